// verdaccio-tpx: a Verdaccio auth plugin that accepts tpx upload tokens for publishing the
// packages they cover, and for nothing else.
//
// The npm CLI exchanges its CI job's OIDC token at tpx (the registry's host routes
// /-/npm/v1/oidc/ to tpx) and sends the upload token it gets as
// "Authorization: Bearer tpx_…" on its PUT of the package. Verdaccio hands Bearer tokens
// to no plugin's authenticate(), only to the first apiJWTmiddleware(), so this plugin
// provides one: a tpx token is verified offline against tpx's JWKS (issuer, audience
// tpx-upload, type, ES256, expiry, the projects claim) and becomes a user who may publish
// exactly the packages the token names; every other request goes to Verdaccio's own
// middleware, built by a second Auth without this plugin, so logins and Verdaccio's own
// tokens work as before.
//
// config.yaml:
//   auth:
//     tpx:
//       issuer: https://registry.example.org   # TPX_PUBLIC_URL
//       # jwks: https://tpx.internal/.well-known/jwks.json   (default: issuer + /.well-known/jwks.json)
//     htpasswd:
//       file: ./htpasswd
"use strict";

const { createRemoteJWKSet, jwtVerify, errors } = require("jose");

const PREFIX = "tpx_";
const AUDIENCE = "tpx-upload";
const TYPE = "tpx-upload+jwt";
const LEEWAY = 30; // seconds of clock skew forgiven, as tpx's own verifiers do
const MAX_TOKEN_BYTES = 16 << 10;
const REQUIRED = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "projects"];

// npm compares package names without case and keeps '-', '_', '.' and the scope apart
// (tpx's TPX_NAMES=npm, verify.NPMNames): a token for foo-bar does not cover foo.bar.
const npmKey = (name) => String(name).replace(/[A-Z]/g, (c) => c.toLowerCase());

// Failures that are a verdict on the token; anything else means tpx's keys could not be
// fetched.
const verdicts = [
  errors.JWTExpired,
  errors.JWTClaimValidationFailed,
  errors.JWTInvalid,
  errors.JWSInvalid,
  errors.JWSSignatureVerificationFailed,
  errors.JOSEAlgNotAllowed,
  errors.JOSENotSupported,
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
];

const loopback = (host) => host === "localhost" || host === "[::1]" || host.startsWith("127.");

// A user made from a tpx token carries the token's projects here.
const TPX = Symbol.for("verdaccio-tpx.projects");

function httpError(status, message) {
  const e = new Error(message);
  e.status = e.statusCode = status;
  e.code = status;
  e.expose = true;
  return e;
}

class TpxAuth {
  constructor(config, options) {
    if (!config || typeof config.issuer !== "string") {
      throw new Error("verdaccio-tpx: set auth.tpx.issuer to tpx's public URL (TPX_PUBLIC_URL)");
    }
    const issuer = new URL(config.issuer);
    if (issuer.protocol !== "https:" && !(issuer.protocol === "http:" && loopback(issuer.hostname))) {
      throw new Error("verdaccio-tpx: the issuer must be https (plain http only on loopback)");
    }
    this.issuer = config.issuer.replace(/\/$/, "");
    this.keys = createRemoteJWKSet(new URL(config.jwks || this.issuer + "/.well-known/jwks.json"), {
      cooldownDuration: 60_000,
      cacheMaxAge: 3_600_000,
      timeoutDuration: 5_000,
    });
    this.options = options;
    this.logger = options.logger;
  }

  // verify returns the token's claims, or throws an error with the status to answer.
  async verify(token) {
    if (token.length > MAX_TOKEN_BYTES) throw httpError(401, "tpx: the token is too large");
    try {
      const { payload } = await jwtVerify(token.slice(PREFIX.length), this.keys, {
        issuer: this.issuer,
        audience: AUDIENCE,
        algorithms: ["ES256"],
        typ: TYPE,
        clockTolerance: LEEWAY,
        requiredClaims: REQUIRED,
      });
      if (!Array.isArray(payload.projects) || !payload.projects.every((p) => typeof p === "string")) {
        throw httpError(401, "tpx: the token's projects claim is not a list of names");
      }
      return payload;
    } catch (e) {
      if (e.status) throw e;
      if (verdicts.some((kind) => e instanceof kind)) throw httpError(401, `tpx: ${e.code}: ${e.message}`);
      throw httpError(503, "tpx: tpx's signing keys cannot be fetched; try again later");
    }
  }

  // Verdaccio's own middleware for every request that does not carry a tpx token: an
  // Auth of the same configuration without this plugin.
  fallback() {
    if (!this.fallbackMiddleware) {
      const { Auth } = require("@verdaccio/auth");
      const { tpx, ...rest } = this.options.config.auth || {};
      const config = Object.assign(Object.create(Object.getPrototypeOf(this.options.config)), this.options.config, {
        auth: Object.keys(rest).length ? rest : undefined,
      });
      const auth = new Auth(config, this.logger);
      this.fallbackMiddleware = auth.init().then(() => auth.apiJWTmiddleware());
    }
    return this.fallbackMiddleware;
  }

  apiJWTmiddleware(helpers) {
    const fallback = this.fallback();
    return (req, res, next) => {
      const [scheme, token] = String(req.headers.authorization || "").split(" ", 2);
      if (!/^bearer$/i.test(scheme) || !token || !token.startsWith(PREFIX)) {
        // Paused until Verdaccio's middleware, which resumes it, is ready.
        req.pause();
        fallback.then((mw) => mw(req, res, next), (err) => {
          req.resume();
          next(err);
        });
        return;
      }
      // Verdaccio's own middleware does the same: the body waits, unread, until the
      // token is settled, so that the publish handler still reads all of it.
      req.pause();
      const done = (err) => {
        req.resume();
        next(err);
      };
      this.verify(token).then(
        (claims) => {
          const user = helpers.createRemoteUser(`tpx:${claims.sub}`, []);
          user[TPX] = claims.projects.map(npmKey);
          req.remote_user = res.locals.remote_user = user;
          this.logger.info({ sub: claims.sub, jti: claims.jti, projects: claims.projects.join(",") },
            "tpx upload token for @{projects} from @{sub} (@{jti})");
          done();
        },
        (e) => {
          this.logger.warn({ reason: e.message }, "tpx upload token refused: @{reason}");
          if (e.status === 503) return done(e);
          // As Verdaccio does with a bad token: the request goes on anonymous, and
          // whatever needs a user is refused.
          const anon = helpers.createAnonymousRemoteUser();
          anon.error = e.message;
          req.remote_user = res.locals.remote_user = anon;
          done();
        },
      );
    };
  }

  // A tpx user publishes (and changes dist-tags of) the packages its token covers, and
  // no other; any other user is left to the next plugin.
  allow_publish(user, pkg, cb) {
    if (!user[TPX]) return cb(null, false);
    if (user[TPX].includes(npmKey(pkg.name))) return cb(null, true);
    return cb(httpError(403, `tpx: this upload token does not cover ${pkg.name}`));
  }

  // Unpublishing is not publishing: a tpx token never removes a version.
  allow_unpublish(user, pkg, cb) {
    if (!user[TPX]) return cb(null, false);
    return cb(httpError(403, "tpx: upload tokens publish; they do not unpublish"));
  }

  // A tpx user reads the packages its token covers (npm reads a package's document when
  // it publishes) and what anyone may read; nothing that needs an account.
  allow_access(user, pkg, cb) {
    if (!user[TPX]) return cb(null, false);
    const everyone = (pkg.access || []).some((g) => ["$all", "$anonymous", "@all", "@anonymous"].includes(g));
    if (everyone || user[TPX].includes(npmKey(pkg.name))) return cb(null, true);
    return cb(httpError(403, `tpx: this upload token does not cover ${pkg.name}`));
  }
}

module.exports = (config, options) => new TpxAuth(config, options);
module.exports.TpxAuth = TpxAuth;
