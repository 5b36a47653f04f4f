-- Sign-in through the index's OpenID provider. A session it starts records factor index:
-- a first factor, like the password, so tpx's own second factor is still due. index-mfa
-- is such a sign-in whose amr claim named a real second factor, and only when the
-- operator chose to count it (TPX_OIDC_AMR_COUNTS).
ALTER TABLE sessions DROP CONSTRAINT sessions_factor_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_factor_check
    CHECK (factor IN ('password', 'totp', 'webauthn', 'recovery', 'index', 'index-mfa'));
