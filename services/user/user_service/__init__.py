"""The user service: accounts, authentication (JWT issuer and JWKS), profiles and addresses."""
