"""Guards against guessing and floods: fixed-window rate limits and growing lockouts."""
