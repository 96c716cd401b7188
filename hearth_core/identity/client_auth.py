"""Who is calling the token, introspection and revocation endpoints: client_secret_basic,
client_secret_post, or a public client naming itself (RFC 6749 §2.3)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from hearth_core.identity.clients import Client, ClientDirectory, verify_secret
from hearth_core.identity.errors import OAuthError, invalid_client
from hearth_core.security.crypto import FieldCipher


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("malformed Basic credentials") from None
    cid, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(cid), unquote_plus(secret)


def authenticate_client(
    clients: ClientDirectory, cipher: FieldCipher, form: dict[str, str], authorization: str | None
) -> Client:
    basic = basic_credentials(authorization)
    posted_id = form.get("client_id")
    posted_secret = form.get("client_secret")
    if basic is not None and posted_secret is not None:
        raise OAuthError("invalid_request", "use exactly one client authentication method")
    if basic is not None:
        cid, secret = basic
        if posted_id is not None and posted_id != cid:
            raise OAuthError("invalid_request", "client_id does not match the credentials")
    else:
        cid, secret = posted_id, posted_secret  # type: ignore[assignment]
    if not cid:
        raise invalid_client("client authentication required")
    client = clients.get(cid)
    if client is None:
        raise invalid_client("unknown client or wrong secret")
    if client.confidential:
        if secret is None or not verify_secret(cipher, client, secret):
            raise invalid_client("unknown client or wrong secret")
    elif secret:
        raise invalid_client("a public client has no secret")
    return client
