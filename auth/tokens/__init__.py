"""The tokens rowgate issues: signing keys and their store, JWS, claims, the token service, the
verified-token cache, opaque secrets, and the OpenID discovery document."""
