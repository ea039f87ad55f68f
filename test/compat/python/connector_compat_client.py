"""Runs the connector compatibility scenario with the official LiveKit Python SDK (livekit-api).

Usage: python connector_compat_client.py <scenario.json>
Environment: CONNECTOR_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, EXPIRED_TOKEN.
Prints one JSON line per step: {"name", "ok": <response as proto3 JSON>} or
{"name", "error": {"code", "msg", "meta", "status"}}; anything else is a client-side failure.
"""

import asyncio
import json
import os
import sys

from google.protobuf import json_format
from livekit import api

METHODS = {
    "DialWhatsAppCall": (api.DialWhatsAppCallRequest, "dial_whatsapp_call"),
    "AcceptWhatsAppCall": (api.AcceptWhatsAppCallRequest, "accept_whatsapp_call"),
    "ConnectWhatsAppCall": (api.ConnectWhatsAppCallRequest, "connect_whatsapp_call"),
    "DisconnectWhatsAppCall": (api.DisconnectWhatsAppCallRequest, "disconnect_whatsapp_call"),
    "ConnectTwilioCall": (api.ConnectTwilioCallRequest, "connect_twilio_call"),
}


async def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        scenario = json.load(f)
    url = os.environ["CONNECTOR_URL"]
    key = os.environ["LIVEKIT_API_KEY"]
    secret = os.environ["LIVEKIT_API_SECRET"]
    clients = {
        "key": api.LiveKitAPI(url, key, secret),
        "wrong_secret": api.LiveKitAPI(url, key, "wrong-" + secret),
        "expired_token": api.LiveKitAPI.with_token(os.environ["EXPIRED_TOKEN"], url),
    }
    try:
        for step in scenario["steps"]:
            message_type, method_name = METHODS[step["method"]]
            request = json_format.ParseDict(step["request"], message_type())
            method = getattr(clients[step["auth"]].connector, method_name)
            try:
                response = await method(request)
                out = {"name": step["name"], "ok": json_format.MessageToDict(response)}
            except api.ServerError as err:
                out = {
                    "name": step["name"],
                    "error": {
                        "code": err.code,
                        "msg": err.message,
                        "meta": err.metadata,
                        "status": err.status,
                    },
                }
            print(json.dumps(out), flush=True)
    finally:
        for client in clients.values():
            await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
