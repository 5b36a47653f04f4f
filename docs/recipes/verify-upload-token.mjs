// Verify tpx upload tokens in a JavaScript upload service, with jose (npm, v5; it runs on Node 18 and later).
//
//   const verify = uploadTokenVerifier("https://tpx.example.org"); // TPX_PUBLIC_URL; once
//   try {
//     const claims = await verify(password, project); // the password of the user __token__
//   } catch (e) {
//     if (e instanceof KeysUnavailable) { /* 503: tpx's keys cannot be fetched; retry */ }
//     else if (e instanceof InvalidToken) { /* 403: e.message says which check failed */ }
//   }
//
// Run as a program, it reads a token on stdin and prints one JSON line: the HTTP status an
// upload service would answer, and the claims or the reason.
//
//   node verify-upload-token.mjs ISSUER PROJECT < token

import { createRemoteJWKSet, errors, jwtVerify } from "jose";
import { pathToFileURL } from "node:url";

export const PREFIX = "tpx_";
export const AUDIENCE = "tpx-upload";
export const TYPE = "tpx-upload+jwt";
// Clock skew forgiven on exp, nbf and iat, in seconds. tpx also puts nbf 30 s before iat,
// so a clock running up to 30 s behind tpx's accepts a fresh token even without leeway.
export const LEEWAY = 30;
const REQUIRED = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "projects"];
const MAX_TOKEN_BYTES = 16 << 10;

/** The token must be refused (403). */
export class InvalidToken extends Error {}
/** tpx's keys cannot be fetched: answer 503, not "invalid". */
export class KeysUnavailable extends Error {}

/** PEP 503 normalisation: "Sample_Project" and "sample-project" are one project. */
export const projectKey = (name) => name.replace(/[-_.]+/g, "-").toLowerCase();

// Failures that are a verdict on the token; anything else (a timeout, a refused
// connection, a key set that is not 200 OK or not JSON) means the keys are unavailable.
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

export function uploadTokenVerifier(issuer) {
  const url = new URL(issuer);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback(url.hostname))) {
    throw new Error("tpx's URL must be https (plain http only on loopback)");
  }
  // jose caches the key set, refetches it at most once per cooldown when a token names a
  // kid it does not hold, and follows no redirect.
  const keys = createRemoteJWKSet(new URL(issuer.replace(/\/$/, "") + "/.well-known/jwks.json"), {
    cooldownDuration: 60_000,
    cacheMaxAge: 3_600_000,
    timeoutDuration: 5_000,
  });
  return async function verify(token, project) {
    if (typeof token !== "string" || !token.startsWith(PREFIX) || token.length > MAX_TOKEN_BYTES) {
      throw new InvalidToken("not a tpx upload token");
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token.slice(PREFIX.length), keys, {
        issuer,
        audience: AUDIENCE,
        algorithms: ["ES256"],
        typ: TYPE,
        clockTolerance: LEEWAY,
        requiredClaims: REQUIRED,
      }));
    } catch (e) {
      if (verdicts.some((kind) => e instanceof kind)) {
        throw new InvalidToken(`${e.code}: ${e.message}`);
      }
      throw new KeysUnavailable(`tpx's keys cannot be fetched: ${e.message}`);
    }
    // jose also accepts an aud list that merely contains ours; tpx never mints one.
    if (payload.aud !== AUDIENCE) {
      throw new InvalidToken(`aud must be exactly ${AUDIENCE}`);
    }
    const wanted = projectKey(project);
    if (!Array.isArray(payload.projects) ||
        !payload.projects.some((p) => typeof p === "string" && projectKey(p) === wanted)) {
      throw new InvalidToken(`this token may not upload to ${project}`);
    }
    return payload;
  };
}

async function main([issuer, project]) {
  let token = "";
  for await (const chunk of process.stdin) token += chunk;
  let out;
  try {
    out = { status: 200, claims: await uploadTokenVerifier(issuer)(token.trim(), project) };
  } catch (e) {
    if (e instanceof KeysUnavailable) out = { status: 503, error: e.message };
    else if (e instanceof InvalidToken) out = { status: 403, error: e.message };
    else throw e;
  }
  console.log(JSON.stringify(out));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
