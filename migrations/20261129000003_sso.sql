-- Sign-in through the company's identity provider (OpenID Connect). An SSO account has no
-- password (an empty hash that no password matches and that password sign-in skips) and is
-- known by its issuer and subject.
ALTER TABLE admins ADD COLUMN sso_subject TEXT;
CREATE UNIQUE INDEX admins_by_sso_subject ON admins (sso_subject);

-- How a session signed in: password or sso.
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE audit_events ADD COLUMN actor_method TEXT;

-- Sign-ins under way at the identity provider: the `state` sent there (hashed), the nonce the
-- ID token must carry, and the PKCE verifier (sealed). Spent when the browser comes back.
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    verifier_sealed TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
