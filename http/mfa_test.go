package http_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/internal/apitest"
	"github.com/cerberus-go/cerberus/service"
	"github.com/cerberus-go/cerberus/userauth"
)

func TestMFA(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{MaxRefreshCount: 5})
	otpURL, err := h.env.Service.AddUser(context.Background(), "mallory", apitest.Password, []string{"grp-mfa"}, true)
	if err != nil {
		t.Fatalf("Service.AddUser(mallory, TOTP): %v", err)
	}
	u, err := url.Parse(otpURL)
	if err != nil || u.Scheme != "otpauth" {
		t.Fatalf("Service.AddUser(mallory, TOTP) = %q, want an otpauth:// URL (%v)", otpURL, err)
	}
	seed := u.Query().Get("secret")
	if seed == "" {
		t.Fatalf("Service.AddUser(mallory, TOTP) = %q: no secret parameter", otpURL)
	}
	h.addSecret(seed)
	code := func(t *testing.T) string {
		t.Helper()
		c, err := userauth.TOTPCode(seed, h.env.Clock.Now())
		if err != nil {
			t.Fatalf("TOTPCode: %v", err)
		}
		return c
	}

	// login logs mallory in with her password and returns the state token
	// of the MFA challenge, checking the challenge's shape.
	login := func(t *testing.T) string {
		t.Helper()
		const call = "GET /v2/auth/user as mallory"
		res := mustStatus(t, call, h.loginResponse(t, "mallory", apitest.Password), 200)
		checkKeys(t, call, res.Body, "status", "data")
		var a struct {
			Status string                     `json:"status"`
			Data   map[string]json.RawMessage `json:"data"`
		}
		res.JSON(t, &a)
		if a.Status != "mfa_req" {
			t.Errorf("%s: status = %q, want \"mfa_req\"", call, a.Status)
		}
		if ct := string(a.Data["client_token"]); ct != "null" {
			t.Errorf("%s: data.client_token = %s, want null (no token before the second factor)", call, ct)
		}
		var username string
		_ = json.Unmarshal(a.Data["username"], &username)
		if username != "mallory" {
			t.Errorf("%s: data.username = %s, want \"mallory\"", call, a.Data["username"])
		}
		var devices []map[string]any
		if err := json.Unmarshal(a.Data["devices"], &devices); err != nil || len(devices) != 1 {
			t.Fatalf("%s: data.devices = %s, want one device", call, a.Data["devices"])
		}
		d := devices[0]
		if d["id"] != "totp" || d["name"] == "" || d["requires_trigger"] != false || d["push"] != false {
			t.Errorf("%s: data.devices[0] = %v, want {id:totp, name:…, requires_trigger:false, push:false}", call, d)
		}
		var state string
		if err := json.Unmarshal(a.Data["state_token"], &state); err != nil || state == "" {
			t.Fatalf("%s: data.state_token = %s, want a string", call, a.Data["state_token"])
		}
		h.addToken(state)
		return state
	}
	check := func(t *testing.T, state, device, otp string) *apitest.Response {
		t.Helper()
		res := h.do(t, "POST", "/v2/auth/mfa_check", "", map[string]any{"state_token": state, "device_id": device, "otp_token": otp})
		h.addToken(clientToken(t, res))
		return res
	}

	var used string // the code of the first successful check
	t.Run("OK", func(t *testing.T) {
		state := login(t)
		used = code(t)
		res := mustStatus(t, "POST /v2/auth/mfa_check with the right code", check(t, state, "totp", used), 200)
		checkLoginAnswer(t, "POST /v2/auth/mfa_check", res, "mallory", map[string]string{
			"username": "mallory", "is_admin": "false", "groups": "grp-mfa", "refresh_count": "0", "max_refresh_count": "5"})
		mustStatus(t, "GET /v1/category with the token of the MFA login", h.do(t, "GET", "/v1/category", clientToken(t, res), nil), 200)
	})

	t.Run("Replay", func(t *testing.T) {
		state := login(t)
		checkError(t, "POST /v2/auth/mfa_check with the code already used, new state token", check(t, state, "totp", used), 401, 99243)
	})

	t.Run("WrongCode", func(t *testing.T) {
		h.env.Clock.Advance(30 * time.Second)
		state := login(t)
		right := code(t)
		n, _ := strconv.Atoi(right)
		wrong := fmt.Sprintf("%06d", (n+500000)%1000000)
		// Every refusal, the replay above included, counts towards the
		// limit of 5 wrong codes: stay under it here.
		for _, otp := range []string{wrong, "abcdef"} {
			checkError(t, fmt.Sprintf("POST /v2/auth/mfa_check with code %q", otp), check(t, state, "totp", otp), 401, 99243)
		}
		checkError(t, "POST /v2/auth/mfa_check with device sms", check(t, state, "sms", right), 401, 99243)
		// The refusals did not spend the challenge.
		mustStatus(t, "POST /v2/auth/mfa_check with the right code after wrong ones", check(t, state, "totp", right), 200)
		// A state token is single-use: after a success it is refused.
		checkError(t, "POST /v2/auth/mfa_check replaying that code, same state token", check(t, state, "totp", right), 401, 99106)
		h.env.Clock.Advance(30 * time.Second)
		checkError(t, "POST /v2/auth/mfa_check with the next code, same state token", check(t, state, "totp", code(t)), 401, 99106)
	})

	t.Run("TooManyWrongCodes", func(t *testing.T) {
		h.env.Clock.Advance(30 * time.Second)
		state := login(t)
		right := code(t)
		n, _ := strconv.Atoi(right)
		for i := 1; i <= 5; i++ {
			wrong := fmt.Sprintf("%06d", (n+i*1000)%1000000)
			checkError(t, fmt.Sprintf("POST /v2/auth/mfa_check with wrong code %d", i), check(t, state, "totp", wrong), 401, 99243)
		}
		for _, otp := range []string{right, fmt.Sprintf("%06d", (n+7)%1000000)} {
			checkError(t, "POST /v2/auth/mfa_check after 5 wrong codes", check(t, state, "totp", otp), 401, 99243)
		}
		h.env.Clock.Advance(5 * time.Minute)
		state = login(t)
		mustStatus(t, "POST /v2/auth/mfa_check with the right code 5 minutes later", check(t, state, "totp", code(t)), 200)
	})

	t.Run("TamperedState", func(t *testing.T) {
		h.env.Clock.Advance(30 * time.Second)
		state := login(t)
		payload, mac, ok := strings.Cut(state, ".")
		if !ok {
			t.Fatalf("state token %q: want payload.mac", state)
		}
		raw, err := base64.RawURLEncoding.DecodeString(payload)
		if err != nil {
			t.Fatalf("state token payload %q: %v", payload, err)
		}
		flipped := append([]byte(nil), raw...)
		flipped[len(flipped)-1] ^= 1
		later := append([]byte(nil), raw...)
		later[0]++ // an expiry far in the future
		otherUser := append(raw[:len(raw)-len("mallory"):len(raw)-len("mallory")], "plainxx"...)
		enc := base64.RawURLEncoding.EncodeToString
		for name, st := range map[string]string{
			"payload bit flipped": enc(flipped) + "." + mac,
			"expiry extended":     enc(later) + "." + mac,
			"other user":          enc(otherUser) + "." + mac,
			"mac changed":         payload + "." + enc([]byte(strings.Repeat("x", 32))),
			"no mac":              payload,
			"empty":               "",
			"garbage":             "x.y",
		} {
			checkError(t, "POST /v2/auth/mfa_check with a state token, "+name, check(t, st, "totp", code(t)), 401, 99106)
		}
		mustStatus(t, "POST /v2/auth/mfa_check with the untampered state token", check(t, state, "totp", code(t)), 200)
	})

	t.Run("ExpiredState", func(t *testing.T) {
		h.env.Clock.Advance(30 * time.Second)
		state := login(t)
		h.env.Clock.Advance(6 * time.Minute)
		checkError(t, "POST /v2/auth/mfa_check with a state token 6 minutes old", check(t, state, "totp", code(t)), 401, 99106)
	})

	t.Run("MalformedRequest", func(t *testing.T) {
		checkError(t, "POST /v2/auth/mfa_check with a malformed body", h.do(t, "POST", "/v2/auth/mfa_check", "", `{"state_token":`), 400, 99999)
		checkError(t, "GET /v2/auth/mfa_check", h.do(t, "GET", "/v2/auth/mfa_check", "", nil), 405, 120)
	})

	t.Run("WrongPassword", func(t *testing.T) {
		wrong := mustStatus(t, "GET /v2/auth/user as mallory, wrong password", h.loginResponse(t, "mallory", "not the password at all"), 401)
		unknown := mustStatus(t, "GET /v2/auth/user as nobody-here", h.loginResponse(t, "nobody-here", apitest.Password), 401)
		checkError(t, "GET /v2/auth/user as mallory, wrong password", wrong, 401, 99106)
		checkError(t, "GET /v2/auth/user as nobody-here", unknown, 401, 99106)
		strip := func(res *apitest.Response) string {
			var m map[string]any
			_ = json.Unmarshal(res.Body, &m)
			delete(m, "error_id")
			b, _ := json.Marshal(m)
			return string(b)
		}
		if a, b := strip(wrong), strip(unknown); a != b {
			t.Errorf("wrong password answers %s, unknown user %s; want the same body (but for error_id)", a, b)
		}
		if a, b := wrong.Header.Get("Content-Type"), unknown.Header.Get("Content-Type"); a != b {
			t.Errorf("wrong password Content-Type %q, unknown user %q; want the same", a, b)
		}
		noBasic := h.do(t, "GET", "/v2/auth/user", "", nil)
		checkError(t, "GET /v2/auth/user without Authorization", noBasic, 401, 99106)
		if a, b := strip(wrong), strip(noBasic); a != b {
			t.Errorf("wrong password answers %s, no credentials %s; want the same body (but for error_id)", a, b)
		}
	})

	t.Run("Audit", func(t *testing.T) { h.checkAudit(t) })
}

// gateSealer holds every Open while armed until release is closed, as a
// slow key (AWS KMS with a cold data-key cache) would: it counts the Opens
// that began.
type gateSealer struct {
	service.Sealer
	armed   atomic.Bool
	opened  atomic.Int32
	release chan struct{}
}

func (g *gateSealer) Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	if g.armed.Load() {
		g.opened.Add(1)
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Sealer.Open(ctx, ciphertext, aad)
}

// TestMFABurst sends a burst of wrong one-time codes at once while the TOTP
// seed is slow to unwrap, then the right code: every attempt counts towards
// the limit of 5 before it is evaluated, so at most 5 are evaluated and the
// right code, sent after them, is refused.
func TestMFABurst(t *testing.T) {
	t.Parallel()
	gate := &gateSealer{release: make(chan struct{})}
	h := newHarness(t, apitest.Options{WrapSealer: func(s service.Sealer) service.Sealer {
		gate.Sealer = s
		return gate
	}})
	otpURL, err := h.env.Service.AddUser(context.Background(), "burst", apitest.Password, []string{"grp-mfa"}, true)
	if err != nil {
		t.Fatalf("Service.AddUser(burst, TOTP): %v", err)
	}
	u, _ := url.Parse(otpURL)
	seed := u.Query().Get("secret")
	res := mustStatus(t, "GET /v2/auth/user as burst", h.loginResponse(t, "burst", apitest.Password), 200)
	var a struct {
		Data struct {
			StateToken string `json:"state_token"`
		} `json:"data"`
	}
	res.JSON(t, &a)
	right, err := userauth.TOTPCode(seed, h.env.Clock.Now())
	if err != nil {
		t.Fatalf("TOTPCode: %v", err)
	}
	n, _ := strconv.Atoi(right)

	const burst = 40
	gate.armed.Store(true)
	var done atomic.Int32
	results := make([]*apitest.Response, burst+1)
	var wg sync.WaitGroup
	send := func(i int, otp string) {
		defer wg.Done()
		defer done.Add(1)
		results[i] = h.do(t, "POST", "/v2/auth/mfa_check", "", map[string]any{"state_token": a.Data.StateToken, "device_id": "totp", "otp_token": otp})
	}
	// settled waits until each of k requests has either been answered or
	// reached the slow unwrap.
	settled := func(k int32) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for done.Load()+gate.opened.Load() < k {
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s, %d of %d requests answered and %d unwrapping the seed", done.Load(), k, gate.opened.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := range burst {
		wg.Add(1)
		go send(i, fmt.Sprintf("%06d", (n+1+i)%1000000))
	}
	settled(burst)
	wg.Add(1)
	go send(burst, right)
	settled(burst + 1)
	close(gate.release)
	wg.Wait()

	if got := gate.opened.Load(); got > 5 {
		t.Errorf("%d codes of the burst reached the evaluation of the seed, want at most 5", got)
	}
	for i, res := range results[:burst] {
		checkError(t, fmt.Sprintf("POST /v2/auth/mfa_check with wrong code %d of the burst", i), res, 401, 99243)
	}
	checkError(t, "POST /v2/auth/mfa_check with the right code after a burst of wrong ones", results[burst], 401, 99243)
	h.checkAudit(t)
}
