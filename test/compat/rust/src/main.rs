//! Runs the connector compatibility scenario with the official LiveKit Rust SDK
//! (`livekit-api` `ConnectorClient`, protobuf Twirp client).
//!
//! Usage: connector-compat-rust <scenario.json>
//! Environment: CONNECTOR_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, EXPIRED_TOKEN.
//! Prints one JSON line per step: {"name", "ok": <response as proto3 JSON>} or
//! {"name", "error": {"code", "msg", "meta"}}.

use std::collections::HashMap;
use std::{env, fs, process};

use livekit_api::services::connector::{
    AcceptWhatsAppCallOptions, ConnectTwilioCallOptions, ConnectorClient, DialWhatsAppCallOptions,
};
use livekit_api::services::{ServerError, ServiceError};
use livekit_protocol as proto;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Step {
    name: String,
    method: String,
    auth: String,
    request: Value,
}

#[derive(Deserialize)]
struct Scenario {
    steps: Vec<Step>,
}

fn fail(msg: String) -> ! {
    eprintln!("{msg}");
    process::exit(1);
}

fn text(r: &Value, key: &str) -> String {
    r.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn opt_text(r: &Value, key: &str) -> Option<String> {
    r.get(key).and_then(Value::as_str).map(str::to_string)
}

fn parse<T: for<'de> Deserialize<'de>>(r: &Value, key: &str) -> Option<T> {
    r.get(key)
        .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| fail(format!("{key}: {e}"))))
}

fn to_json<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| fail(format!("serialize response: {e}")))
}

async fn run(client: &ConnectorClient, step: &Step) -> Result<Value, ServiceError> {
    let r = &step.request;
    let agents: Option<Vec<proto::RoomAgentDispatch>> = parse(r, "agents");
    let attributes: Option<HashMap<String, String>> = parse(r, "participantAttributes");
    let sdp: proto::SessionDescription = parse(r, "sdp").unwrap_or_default();
    match step.method.as_str() {
        "DialWhatsAppCall" => client
            .dial_whatsapp_call(
                text(r, "whatsappPhoneNumberId"),
                text(r, "whatsappToPhoneNumber"),
                text(r, "whatsappApiKey"),
                text(r, "whatsappCloudApiVersion"),
                DialWhatsAppCallOptions {
                    biz_opaque_callback_data: opt_text(r, "whatsappBizOpaqueCallbackData"),
                    room_name: opt_text(r, "roomName"),
                    agents,
                    participant_identity: opt_text(r, "participantIdentity"),
                    participant_name: opt_text(r, "participantName"),
                    participant_metadata: opt_text(r, "participantMetadata"),
                    participant_attributes: attributes,
                    destination_country: opt_text(r, "destinationCountry"),
                },
            )
            .await
            .map(to_json),
        "AcceptWhatsAppCall" => client
            .accept_whatsapp_call(
                text(r, "whatsappPhoneNumberId"),
                text(r, "whatsappApiKey"),
                text(r, "whatsappCloudApiVersion"),
                text(r, "whatsappCallId"),
                sdp,
                AcceptWhatsAppCallOptions {
                    biz_opaque_callback_data: opt_text(r, "whatsappBizOpaqueCallbackData"),
                    room_name: opt_text(r, "roomName"),
                    agents,
                    participant_identity: opt_text(r, "participantIdentity"),
                    participant_name: opt_text(r, "participantName"),
                    participant_metadata: opt_text(r, "participantMetadata"),
                    participant_attributes: attributes,
                    destination_country: opt_text(r, "destinationCountry"),
                    wait_until_answered: r.get("waitUntilAnswered").and_then(Value::as_bool),
                    timeout: None,
                },
            )
            .await
            .map(to_json),
        "ConnectWhatsAppCall" => client
            .connect_whatsapp_call(text(r, "whatsappCallId"), sdp)
            .await
            .map(to_json),
        "DisconnectWhatsAppCall" => {
            use proto::disconnect_whats_app_call_request::DisconnectReason;
            let reason = if text(r, "disconnectReason") == "USER_INITIATED" {
                DisconnectReason::UserInitiated
            } else {
                DisconnectReason::BusinessInitiated
            };
            client
                .disconnect_whatsapp_call_with_reason(
                    text(r, "whatsappCallId"),
                    text(r, "whatsappApiKey"),
                    reason,
                )
                .await
                .map(to_json)
        }
        "ConnectTwilioCall" => {
            use proto::connect_twilio_call_request::TwilioCallDirection;
            let direction = if text(r, "twilioCallDirection") == "TWILIO_CALL_DIRECTION_OUTBOUND" {
                TwilioCallDirection::Outbound
            } else {
                TwilioCallDirection::Inbound
            };
            client
                .connect_twilio_call(
                    direction,
                    text(r, "roomName"),
                    ConnectTwilioCallOptions {
                        agents,
                        participant_identity: opt_text(r, "participantIdentity"),
                        participant_name: opt_text(r, "participantName"),
                        participant_metadata: opt_text(r, "participantMetadata"),
                        participant_attributes: attributes,
                        destination_country: opt_text(r, "destinationCountry"),
                    },
                )
                .await
                .map(to_json)
        }
        other => fail(format!("{}: unknown method {other}", step.name)),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = env::args()
        .nth(1)
        .unwrap_or_else(|| fail("usage: connector-compat-rust <scenario.json>".into()));
    let data = fs::read_to_string(&path).unwrap_or_else(|e| fail(format!("read {path}: {e}")));
    let scenario: Scenario =
        serde_json::from_str(&data).unwrap_or_else(|e| fail(format!("parse scenario: {e}")));
    let var = |k: &str| env::var(k).unwrap_or_else(|_| fail(format!("{k} is not set")));
    let url = var("CONNECTOR_URL");
    let key = var("LIVEKIT_API_KEY");
    let secret = var("LIVEKIT_API_SECRET");
    let with_key = ConnectorClient::with_api_key(&url, &key, &secret);
    let wrong_secret = ConnectorClient::with_api_key(&url, &key, &format!("wrong-{secret}"));
    let expired = ConnectorClient::with_token(&url, &var("EXPIRED_TOKEN"));

    for step in &scenario.steps {
        let client = match step.auth.as_str() {
            "key" => &with_key,
            "wrong_secret" => &wrong_secret,
            "expired_token" => &expired,
            other => fail(format!("{}: unknown auth {other}", step.name)),
        };
        let out = match run(client, step).await {
            Ok(ok) => json!({ "name": step.name, "ok": ok }),
            Err(ServiceError::Twirp(ServerError::Twirp(e))) => json!({
                "name": step.name,
                "error": { "code": e.code, "msg": e.msg, "meta": e.meta },
            }),
            Err(e) => fail(format!("{}: not a Twirp error: {e}", step.name)),
        };
        println!("{out}");
    }
}
