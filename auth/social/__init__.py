"""Sign-in through other providers: any OpenID Connect provider (by discovery), and GitHub."""
