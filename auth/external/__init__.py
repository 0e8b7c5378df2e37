"""External token issuers (Firebase, Auth0, Cognito, ...): their key sets and their tokens."""
