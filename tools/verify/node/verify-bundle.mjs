// Verify a Better Work credential bundle with the `jose` library (npm), offline:
//   npm install jose@6 && node verify-bundle.mjs demo-credential-bundle.json
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { compactVerify, decodeProtectedHeader, importJWK } from "jose";

const bundle = JSON.parse(readFileSync(process.argv[2], "utf8"));
const did = bundle.issuer.didDocument;

// 1. The kid names a verification method of the issuer's DID document (an assertionMethod).
async function keyFor(jws) {
  const { alg, typ, kid } = decodeProtectedHeader(jws);
  if (alg !== "EdDSA" || typ !== "vc+jwt") throw new Error(`unexpected header ${alg} ${typ}`);
  if (!did.assertionMethod.includes(kid)) throw new Error(`${kid} is no assertionMethod`);
  const method = did.verificationMethod.find((m) => m.id === kid);
  return { kid, key: await importJWK(method.publicKeyJwk, "EdDSA") };
}

// 2. The compact JWS verifies with that key; its payload is the credential.
async function verified(jws) {
  const { kid, key } = await keyFor(jws);
  const { payload } = await compactVerify(jws, key, { algorithms: ["EdDSA"] });
  return { kid, claims: JSON.parse(new TextDecoder().decode(payload)) };
}
const { kid, claims: credential } = await verified(bundle.credential);
if (credential.issuer.id !== did.id) throw new Error("issuer is not the DID document's");
console.log(`signature   valid, ${kid}`);
console.log(`credential  ${credential.id}, valid from ${credential.validFrom}`);

// 3. The report's SHA-256, over its canonical JSON (sorted keys, no spaces, UTF-8), is the
//    credential's auditableEvidence.hashDigest.
const canonical = (value) =>
  Array.isArray(value)
    ? `[${value.map(canonical).join(",")}]`
    : value !== null && typeof value === "object"
      ? `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`
      : JSON.stringify(value);
const digest = createHash("sha256").update(canonical(bundle.report), "utf8").digest("hex");
const evidence = credential.credentialSubject.auditableEvidence;
if (digest !== evidence.hashDigest) throw new Error(`report hash ${digest} != ${evidence.hashDigest}`);
console.log(`report      SHA-256 ${digest} = hashDigest`);

// 4. The status list (signed by the same issuer) holds the credential's bit: multibase "u",
//    base64url, GZIP; bit 0 is the leftmost bit of the first byte.
const { claims: list } = await verified(bundle.statusList.credential);
const entry = credential.credentialStatus;
if (list.id !== entry.statusListCredential) throw new Error("another status list");
const bits = gunzipSync(Buffer.from(list.credentialSubject.encodedList.slice(1), "base64url"));
const index = Number(entry.statusListIndex);
const bit = (bits[index >> 3] >> (7 - (index % 8))) & 1;
const message = entry.statusMessage.find((m) => parseInt(m.status, 16) === bit).message;
console.log(`status      bit ${index} of ${list.id} = ${bit}: ${message}`);
process.exit(message === "valid" ? 0 : 1);
