package compat;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.livekit.server.ConnectorServiceClient;
import io.livekit.server.TwilioCallOptions;
import io.livekit.server.WhatsAppCallOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import livekit.LivekitAgentDispatch.RoomAgentDispatch;
import livekit.LivekitConnectorTwilio.ConnectTwilioCallRequest.TwilioCallDirection;
import livekit.LivekitConnectorWhatsapp.DisconnectWhatsAppCallRequest.DisconnectReason;
import livekit.LivekitRtc.SessionDescription;
import okhttp3.OkHttpClient;
import retrofit2.Call;
import retrofit2.Response;

/**
 * Runs the connector compatibility scenario with the official LiveKit Kotlin/JVM server SDK
 * (io.livekit:livekit-server ConnectorServiceClient, protobuf Twirp over Retrofit).
 *
 * <p>Usage: ConnectorCompatClient scenario.json. Environment: CONNECTOR_URL, LIVEKIT_API_KEY,
 * LIVEKIT_API_SECRET, EXPIRED_TOKEN. Prints one JSON line per step: {"name", "ok": response as
 * proto3 JSON} or {"name", "error": {"code", "msg", "meta", "status"}}. The SDK does not throw on
 * HTTP errors (callers inspect the Response), so the error body is read here as the SDK's own
 * ServerError helper in later versions does.
 */
public final class ConnectorCompatClient {
  private static final Gson GSON = new Gson();

  private static String text(JsonObject r, String key) {
    return r.has(key) ? r.get(key).getAsString() : "";
  }

  private static String optText(JsonObject r, String key) {
    return r.has(key) ? r.get(key).getAsString() : null;
  }

  private static <B extends Message.Builder> B parse(JsonElement json, B builder) throws Exception {
    // The SDK bundles an older protocol (e.g. RoomAgentDispatch without deployment/attributes):
    // fields it cannot represent are dropped, as they would be for a real Kotlin user.
    JsonFormat.parser().ignoringUnknownFields().merge(GSON.toJson(json), builder);
    return builder;
  }

  private static List<RoomAgentDispatch> agents(JsonObject r) throws Exception {
    List<RoomAgentDispatch> agents = null;
    if (r.has("agents")) {
      agents = new ArrayList<>();
      for (JsonElement a : r.getAsJsonArray("agents")) {
        agents.add(parse(a, RoomAgentDispatch.newBuilder()).build());
      }
    }
    return agents;
  }

  private static Map<String, String> attributes(JsonObject r) {
    Map<String, String> attributes = null;
    if (r.has("participantAttributes")) {
      attributes = new HashMap<>();
      for (Map.Entry<String, JsonElement> e : r.getAsJsonObject("participantAttributes").entrySet()) {
        attributes.put(e.getKey(), e.getValue().getAsString());
      }
    }
    return attributes;
  }

  private static WhatsAppCallOptions options(JsonObject r) throws Exception {
    Duration ringing = null;
    if (r.has("ringingTimeout")) {
      ringing = Duration.ofMillis(
          Math.round(Double.parseDouble(text(r, "ringingTimeout").replace("s", "")) * 1000));
    }
    return new WhatsAppCallOptions(
        optText(r, "roomName"),
        agents(r),
        optText(r, "participantIdentity"),
        optText(r, "participantName"),
        optText(r, "participantMetadata"),
        attributes(r),
        optText(r, "destinationCountry"),
        optText(r, "whatsappBizOpaqueCallbackData"),
        ringing);
  }

  private static Call<? extends Message> call(ConnectorServiceClient c, String method, JsonObject r)
      throws Exception {
    SessionDescription sdp = r.has("sdp")
        ? parse(r.get("sdp"), SessionDescription.newBuilder()).build()
        : SessionDescription.getDefaultInstance();
    switch (method) {
      case "DialWhatsAppCall":
        return c.dialWhatsAppCall(text(r, "whatsappPhoneNumberId"), text(r, "whatsappToPhoneNumber"),
            text(r, "whatsappApiKey"), text(r, "whatsappCloudApiVersion"), options(r));
      case "AcceptWhatsAppCall":
        return c.acceptWhatsAppCall(text(r, "whatsappPhoneNumberId"), text(r, "whatsappApiKey"),
            text(r, "whatsappCloudApiVersion"), text(r, "whatsappCallId"), sdp,
            r.has("waitUntilAnswered") && r.get("waitUntilAnswered").getAsBoolean(), options(r));
      case "ConnectWhatsAppCall":
        return c.connectWhatsAppCall(text(r, "whatsappCallId"), sdp);
      case "DisconnectWhatsAppCall":
        DisconnectReason reason = "USER_INITIATED".equals(text(r, "disconnectReason"))
            ? DisconnectReason.USER_INITIATED
            : DisconnectReason.BUSINESS_INITIATED;
        return c.disconnectWhatsAppCall(text(r, "whatsappCallId"), text(r, "whatsappApiKey"), reason);
      case "ConnectTwilioCall":
        TwilioCallDirection direction =
            "TWILIO_CALL_DIRECTION_OUTBOUND".equals(text(r, "twilioCallDirection"))
                ? TwilioCallDirection.TWILIO_CALL_DIRECTION_OUTBOUND
                : TwilioCallDirection.TWILIO_CALL_DIRECTION_INBOUND;
        return c.connectTwilioCall(direction, new TwilioCallOptions(
            optText(r, "roomName"),
            agents(r),
            optText(r, "participantIdentity"),
            optText(r, "participantName"),
            optText(r, "participantMetadata"),
            attributes(r),
            optText(r, "destinationCountry")));
      default:
        throw new IllegalArgumentException("unknown method " + method);
    }
  }

  public static void main(String[] args) throws Exception {
    String url = System.getenv("CONNECTOR_URL");
    String key = System.getenv("LIVEKIT_API_KEY");
    String secret = System.getenv("LIVEKIT_API_SECRET");
    String expired = System.getenv("EXPIRED_TOKEN");
    JsonObject scenario = JsonParser.parseString(
        Files.readString(Path.of(args[0]), StandardCharsets.UTF_8)).getAsJsonObject();

    Map<String, ConnectorServiceClient> clients = new HashMap<>();
    clients.put("key", ConnectorServiceClient.createClient(url, key, secret));
    clients.put("wrong_secret", ConnectorServiceClient.createClient(url, key, "wrong-" + secret));
    // 0.13.0 has no pre-signed token mode: swap the signed header for the expired token.
    clients.put("expired_token", ConnectorServiceClient.createClient(url, key, secret,
        () -> new OkHttpClient.Builder()
            .addInterceptor(chain -> chain.proceed(chain.request().newBuilder()
                .header("Authorization", "Bearer " + expired).build()))
            .build()));

    JsonArray steps = scenario.getAsJsonArray("steps");
    for (JsonElement el : steps) {
      JsonObject step = el.getAsJsonObject();
      String name = step.get("name").getAsString();
      ConnectorServiceClient client = clients.get(step.get("auth").getAsString());
      Response<? extends Message> response =
          call(client, step.get("method").getAsString(), step.getAsJsonObject("request")).execute();
      JsonObject out = new JsonObject();
      out.addProperty("name", name);
      if (response.isSuccessful()) {
        out.add("ok", JsonParser.parseString(JsonFormat.printer().print(response.body())));
      } else {
        String body = response.errorBody() == null ? "" : response.errorBody().string();
        JsonObject err = JsonParser.parseString(body).getAsJsonObject();
        JsonObject error = new JsonObject();
        error.add("code", err.get("code"));
        error.add("msg", err.get("msg"));
        error.add("meta", err.has("meta") ? err.get("meta") : new JsonObject());
        error.addProperty("status", response.code());
        error.addProperty("contentType", response.headers().get("Content-Type"));
        out.add("error", error);
      }
      System.out.println(GSON.toJson(out));
    }
    System.exit(0);
  }
}
