#!/usr/bin/env python3
"""Independent JOSE checks for ferrid's key ring, using jwcrypto (not josekit/OpenSSL's Rust
bindings), driven by tests/api/jose_interop.rs.

  jose.py verify  JWKS_FILE TOKENS_FILE   verify every JWS in TOKENS_FILE ({"alg": token}) with the JWKS
  jose.py keygen  PRIVATE_FILE PUBLIC_FILE   make recipient keys (RSA 2048, EC P-256) for ferrid to encrypt to
  jose.py decrypt PRIVATE_FILE JWES_FILE   decrypt every JWE in JWES_FILE ([{"token", "plaintext"}])
  jose.py encrypt JWKS_FILE OUT_FILE PLAINTEXT   encrypt PLAINTEXT to every encryption key in the JWKS

Exits non-zero with a message on the first failure.
"""
import json
import sys

from jwcrypto import jwe, jwk, jws

ENCS = ["A256GCM", "A128CBC-HS256"]


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def verify(jwks_file, tokens_file):
    keys = jwk.JWKSet.from_json(json.dumps(load(jwks_file)))
    tokens = load(tokens_file)
    for alg, token in tokens.items():
        header = json.loads(jws.base64url_decode(token.split(".")[0]))
        key = keys.get_key(header["kid"])
        if key is None:
            sys.exit(f"{alg}: kid {header['kid']} not in the JWKS")
        checker = jws.JWS()
        checker.deserialize(token)
        checker.verify(key, alg=alg)
        claims = json.loads(checker.payload)
        if header.get("alg") != alg or "iss" not in claims:
            sys.exit(f"{alg}: unexpected header or claims {header} {claims}")
    print(f"verified {len(tokens)} JWS")


def keygen(private_file, public_file):
    # No "alg" member: one EC key serves both ECDH-ES variants.
    rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="python-rsa", use="enc")
    ec = jwk.JWK.generate(kty="EC", crv="P-256", kid="python-ec", use="enc")
    with open(private_file, "w", encoding="utf-8") as handle:
        json.dump({"keys": [json.loads(rsa.export_private()), json.loads(ec.export_private())]}, handle)
    with open(public_file, "w", encoding="utf-8") as handle:
        json.dump({"keys": [json.loads(rsa.export_public()), json.loads(ec.export_public())]}, handle)


def decrypt(private_file, jwes_file):
    keys = jwk.JWKSet.from_json(json.dumps(load(private_file)))
    items = load(jwes_file)
    for item in items:
        token = jwe.JWE()
        token.deserialize(item["token"])
        header = json.loads(token.objects["protected"])
        token.decrypt(keys.get_key(header["kid"]))
        if token.payload.decode() != item["plaintext"]:
            sys.exit(f"{header}: decrypted the wrong plaintext")
    print(f"decrypted {len(items)} JWE")


def encrypt(jwks_file, out_file, plaintext):
    out = []
    for key in load(jwks_file)["keys"]:
        if key.get("use") != "enc":
            continue
        recipient = jwk.JWK(**key)
        algs = [key["alg"]] if "alg" in key else ["RSA-OAEP-256"]
        for alg in algs:
            for enc in ENCS:
                protected = {"alg": alg, "enc": enc, "kid": key["kid"]}
                token = jwe.JWE(plaintext.encode(), json.dumps(protected))
                token.add_recipient(recipient)
                out.append({"kid": key["kid"], "alg": alg, "enc": enc, "token": token.serialize(compact=True)})
    if not out:
        sys.exit("the JWKS has no encryption keys")
    with open(out_file, "w", encoding="utf-8") as handle:
        json.dump(out, handle)
    print(f"encrypted {len(out)} JWE")


if __name__ == "__main__":
    commands = {"verify": verify, "keygen": keygen, "decrypt": decrypt, "encrypt": encrypt}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
