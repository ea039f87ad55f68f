// Command connector-compat-go runs the connector compatibility scenario with the official LiveKit
// Go server SDK (github.com/livekit/server-sdk-go/v2 ConnectorClient, protobuf Twirp client).
//
// Usage: connector-compat-go <scenario.json>
// Environment: CONNECTOR_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, EXPIRED_TOKEN.
// Prints one JSON line per step: {"name", "ok": <response as proto3 JSON>} or
// {"name", "error": {"code", "msg", "meta"}}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type step struct {
	Name    string          `json:"name"`
	Method  string          `json:"method"`
	Auth    string          `json:"auth"`
	Request json.RawMessage `json:"request"`
}

type stepError struct {
	Code string            `json:"code"`
	Msg  string            `json:"msg"`
	Meta map[string]string `json:"meta"`
}

type stepResult struct {
	Name  string          `json:"name"`
	OK    json.RawMessage `json:"ok,omitempty"`
	Error *stepError      `json:"error,omitempty"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func call(ctx context.Context, c *lksdk.ConnectorClient, s step) (proto.Message, error) {
	switch s.Method {
	case "DialWhatsAppCall":
		req := &livekit.DialWhatsAppCallRequest{}
		if err := protojson.Unmarshal(s.Request, req); err != nil {
			fail("%s: bad request json: %v", s.Name, err)
		}
		return c.DialWhatsAppCall(ctx, req)
	case "AcceptWhatsAppCall":
		req := &livekit.AcceptWhatsAppCallRequest{}
		if err := protojson.Unmarshal(s.Request, req); err != nil {
			fail("%s: bad request json: %v", s.Name, err)
		}
		return c.AcceptWhatsAppCall(ctx, req)
	case "ConnectWhatsAppCall":
		req := &livekit.ConnectWhatsAppCallRequest{}
		if err := protojson.Unmarshal(s.Request, req); err != nil {
			fail("%s: bad request json: %v", s.Name, err)
		}
		return c.ConnectWhatsAppCall(ctx, req)
	case "DisconnectWhatsAppCall":
		req := &livekit.DisconnectWhatsAppCallRequest{}
		if err := protojson.Unmarshal(s.Request, req); err != nil {
			fail("%s: bad request json: %v", s.Name, err)
		}
		return c.DisconnectWhatsAppCall(ctx, req)
	case "ConnectTwilioCall":
		req := &livekit.ConnectTwilioCallRequest{}
		if err := protojson.Unmarshal(s.Request, req); err != nil {
			fail("%s: bad request json: %v", s.Name, err)
		}
		return c.ConnectTwilioCall(ctx, req)
	}
	fail("%s: unknown method %q", s.Name, s.Method)
	return nil, nil
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: connector-compat-go <scenario.json>")
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("read scenario: %v", err)
	}
	var scenario struct {
		Steps []step `json:"steps"`
	}
	if err := json.Unmarshal(data, &scenario); err != nil {
		fail("parse scenario: %v", err)
	}
	url := os.Getenv("CONNECTOR_URL")
	key := os.Getenv("LIVEKIT_API_KEY")
	secret := os.Getenv("LIVEKIT_API_SECRET")
	expiredAPI, err := lksdk.NewLiveKitAPI(lksdk.WithURL(url), lksdk.WithToken(os.Getenv("EXPIRED_TOKEN")))
	if err != nil {
		fail("token client: %v", err)
	}
	clients := map[string]*lksdk.ConnectorClient{
		"key":           lksdk.NewConnectorClient(url, key, secret),
		"wrong_secret":  lksdk.NewConnectorClient(url, key, "wrong-"+secret),
		"expired_token": expiredAPI.Connector(),
	}
	out := json.NewEncoder(os.Stdout)
	for _, s := range scenario.Steps {
		client, ok := clients[s.Auth]
		if !ok {
			fail("%s: unknown auth %q", s.Name, s.Auth)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := call(ctx, client, s)
		cancel()
		result := stepResult{Name: s.Name}
		if err != nil {
			var terr twirp.Error
			if !errors.As(err, &terr) {
				fail("%s: not a twirp error: %v", s.Name, err)
			}
			result.Error = &stepError{Code: string(terr.Code()), Msg: terr.Msg(), Meta: terr.MetaMap()}
		} else {
			body, err := protojson.Marshal(resp)
			if err != nil {
				fail("%s: marshal response: %v", s.Name, err)
			}
			result.OK = body
		}
		if err := out.Encode(result); err != nil {
			fail("write result: %v", err)
		}
	}
}
