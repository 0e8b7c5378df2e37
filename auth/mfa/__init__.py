"""TOTP multi-factor authentication: enrolment, backup codes, the sign-in gate and step-up."""
