"""Sessions: opening one (sign-in, signup, switch-org, invitations), its token set, refresh token
rotation, listing and revoking, and the revocation list every instance follows."""
