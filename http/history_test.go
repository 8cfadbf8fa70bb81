package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/apitest"
)

// versionList is the page of GET /v1/secret-versions.
type versionList struct {
	HasNext    bool `json:"has_next"`
	NextOffset *int `json:"next_offset"`
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
	Count      int  `json:"version_count_in_result"`
	Total      int  `json:"total_version_count"`
	Versions   []struct {
		ID               string `json:"id"`
		SDBID            string `json:"sdbox_id"`
		Path             string `json:"path"`
		Action           string `json:"action"`
		Type             string `json:"type"`
		SizeBytes        int    `json:"size_in_bytes"`
		VersionCreatedBy string `json:"version_created_by"`
		VersionCreatedTS string `json:"version_created_ts"`
		ActionPrincipal  string `json:"action_principal"`
		ActionTS         string `json:"action_ts"`
	} `json:"secure_data_version_summaries"`
}

// versions returns the versions of path; it fails the test unless the
// answer is 200.
func (h *harness) versions(tb testing.TB, token, path, query string) versionList {
	tb.Helper()
	var out versionList
	call := "GET /v1/secret-versions/" + path + query
	mustStatus(tb, call, h.do(tb, "GET", "/v1/secret-versions/"+path+query, token, nil), http.StatusOK).JSON(tb, &out)
	if out.Count != len(out.Versions) {
		tb.Errorf("%s: version_count_in_result %d, but %d summaries", call, out.Count, len(out.Versions))
	}
	return out
}

// summary renders the versions of a list as "id-or-CURRENT:action:by", for
// comparisons.
func (v versionList) summary(ids map[string]string) []string {
	var out []string
	for _, x := range v.Versions {
		id := x.ID
		if name, ok := ids[id]; ok {
			id = name
		}
		out = append(out, fmt.Sprintf("%s:%s:%s:%d", id, x.Action, x.VersionCreatedBy, x.SizeBytes))
	}
	return out
}

func TestVersionHistory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{})
	h.env.AddUser(t, "alice", "grp-owner")
	h.env.AddUser(t, "walt", "grp-write")
	tok := h.login(t, "alice")
	writer := h.login(t, "walt")
	roles := h.roleIDs(t, tok)
	sdb := h.createSDB(t, tok, sdbInput{Name: "History", CategoryID: h.categoryID(t, tok, "app"), Owner: "grp-owner",
		UserGroupPermissions: []groupPerm{{"grp-write", roles["write"]}}})
	const path = "app/history/db"

	h.putSecret(t, tok, path, map[string]any{"v": "1"})
	h.env.Clock.Advance(time.Second)
	h.putSecret(t, writer, path, map[string]any{"v": "22"})
	h.env.Clock.Advance(time.Second)
	h.putSecret(t, tok, path, map[string]any{"v": "333"})

	all := h.versions(t, tok, path, "")
	if got, want := all.summary(nil)[0], "CURRENT:UPDATE:alice:11"; got != want {
		t.Fatalf("first version %s, want %s", got, want)
	}
	if all.Total != 3 || all.HasNext || all.NextOffset != nil || all.Limit != 100 {
		t.Fatalf("versions: total %d, has_next %v, next_offset %v, limit %d; want 3, false, null, 100", all.Total, all.HasNext, all.NextOffset, all.Limit)
	}
	v2, v1 := all.Versions[1], all.Versions[2]
	ids := map[string]string{v2.ID: "v2", v1.ID: "v1"}
	if got, want := all.summary(ids), []string{"CURRENT:UPDATE:alice:11", "v2:UPDATE:walt:10", "v1:UPDATE:alice:9"}; !slices.Equal(got, want) {
		t.Fatalf("versions %q, want %q", got, want)
	}
	for _, v := range all.Versions {
		if v.Path != path || v.SDBID != sdb.ID || v.Type != "OBJECT" || !tsRE.MatchString(v.ActionTS) || !tsRE.MatchString(v.VersionCreatedTS) {
			t.Errorf("version %+v: want path %s, sdbox_id %s, type OBJECT, timestamps", v, path, sdb.ID)
		}
	}
	if v2.ActionPrincipal != "alice" || v1.ActionPrincipal != "walt" {
		t.Errorf("action principals %q, %q; want alice (replaced v2), walt (replaced v1)", v2.ActionPrincipal, v1.ActionPrincipal)
	}

	t.Run("Paging", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []string
			next  *int
		}{
			{"?limit=1", []string{"CURRENT:UPDATE:alice:11"}, ptr(1)},
			{"?limit=1&offset=1", []string{"v2:UPDATE:walt:10"}, ptr(2)},
			{"?limit=2&offset=1", []string{"v2:UPDATE:walt:10", "v1:UPDATE:alice:9"}, nil},
			{"?limit=0", nil, nil},
			{"?offset=3", nil, nil},
		} {
			got := h.versions(t, tok, path, tc.query)
			if !slices.Equal(got.summary(ids), tc.want) || got.Total != 3 || show(got.NextOffset) != show(tc.next) || got.HasNext != (tc.next != nil) {
				t.Errorf("%s: %q (total %d, next %v, has_next %v); want %q, total 3, next %v", tc.query, got.summary(ids), got.Total, show(got.NextOffset), got.HasNext, tc.want, show(tc.next))
			}
		}
	})

	t.Run("ReadVersion", func(t *testing.T) {
		res := mustStatus(t, "GET ?versionId=v1", h.do(t, "GET", "/v1/secret/"+path+"?versionId="+v1.ID, tok, nil), 200)
		var env struct {
			Data     map[string]string `json:"data"`
			Metadata map[string]string `json:"metadata"`
		}
		res.JSON(t, &env)
		if env.Data["v"] != "1" || env.Metadata["version_id"] != v1.ID || env.Metadata["action"] != "UPDATE" ||
			env.Metadata["action_principal"] != "walt" || env.Metadata["version_created_by"] != "alice" {
			t.Errorf("GET ?versionId=v1: data %v, metadata %v", env.Data, env.Metadata)
		}
		checkKeys(t, "GET ?versionId=v1 metadata", mustJSON(t, env.Metadata), "version_id", "action", "action_ts", "action_principal", "version_created_by", "version_created_ts")
		if res.Header.Get("ETag") != "" {
			t.Errorf("GET ?versionId=v1: ETag %q, want none (only the live value has one)", res.Header.Get("ETag"))
		}
		for _, id := range []string{"00000000-0000-4000-8000-000000000000", "nonsense"} {
			res := h.do(t, "GET", "/v1/secret/"+path+"?versionId="+id, tok, nil)
			if res.Status != 404 || len(res.Body) != 0 {
				t.Errorf("GET ?versionId=%s: %d %q, want 404 with an empty body", id, res.Status, res.Body)
			}
		}
		// A version of another path is not found through this one.
		h.putSecret(t, tok, "app/history/other", map[string]any{"o": "1"})
		if res := h.do(t, "GET", "/v1/secret/app/history/other?versionId="+v1.ID, tok, nil); res.Status != 404 {
			t.Errorf("GET another path with v1's id: %d, want 404", res.Status)
		}
	})

	t.Run("NoVersions", func(t *testing.T) {
		checkError(t, "versions of a path never written", h.do(t, "GET", "/v1/secret-versions/app/history/never", tok, nil), 400, 99999)
		checkError(t, "versions of the SDB root", h.do(t, "GET", "/v1/secret-versions/app/history", tok, nil), 400, 99999)
		checkError(t, "versions in an unknown SDB", h.do(t, "GET", "/v1/secret-versions/app/nope/x", tok, nil), 404, 99996)
	})

	t.Run("CheckAndSet", func(t *testing.T) {
		const p = "/v1/secret/app/history/cas"
		send := func(header, value string, data map[string]any) *apitest.Response {
			req := h.request(t, "PUT", p, jsonReader(t, data))
			req.Header.Set("X-Cerberus-Token", tok)
			if header != "" {
				req.Header.Set(header, value)
			}
			return h.send(t, req)
		}
		mustStatus(t, "If-None-Match: * on a new path", send("If-None-Match", "*", map[string]any{"n": 1}), 204)
		checkError(t, "If-None-Match: * on an existing path", send("If-None-Match", "*", map[string]any{"n": 2}), 409, 99990)
		res := mustStatus(t, "GET", h.do(t, "GET", p, tok, nil), 200)
		tag := res.Header.Get("ETag")
		if tag != `"1"` {
			t.Fatalf("ETag after the first write = %q, want \"1\"", tag)
		}
		mustStatus(t, "If-Match the read's ETag", send("If-Match", tag, map[string]any{"n": 3}), 204)
		checkError(t, "If-Match a stale ETag", send("If-Match", tag, map[string]any{"n": 4}), 409, 99990)
		if got := h.readSecret(t, tok, "app/history/cas"); fmt.Sprint(got["n"]) != "3" {
			t.Errorf("after a refused check-and-set: n = %v, want 3", got["n"])
		}
		for _, bad := range []string{"3", `"x"`, "*", `"0"`} {
			checkError(t, "If-Match "+bad, send("If-Match", bad, map[string]any{"n": 5}), 400, 99999)
		}
		checkError(t, "If-None-Match other than *", send("If-None-Match", `"2"`, map[string]any{"n": 5}), 400, 99999)

		// Versions go on after a delete, so an old ETag never matches a
		// new life of the path.
		mustStatus(t, "DELETE", h.do(t, "DELETE", p, tok, nil), 204)
		mustStatus(t, "write again", send("If-None-Match", "*", map[string]any{"n": 6}), 204)
		if got := mustStatus(t, "GET", h.do(t, "GET", p, tok, nil), 200).Header.Get("ETag"); got != `"3"` {
			t.Errorf("ETag after delete and write again = %s, want \"3\"", got)
		}
		// Files too.
		h.mustUpload(t, tok, "app/history/cas.bin", []byte("a"))
		req := h.uploadRequest(t, "PUT", tok, "app/history/cas.bin", []byte("b"), false)
		req.Header.Set("If-Match", `"7"`)
		checkError(t, "upload If-Match a wrong version", h.send(t, req), 409, 99990)
		req = h.uploadRequest(t, "PUT", tok, "app/history/cas.bin", []byte("b"), false)
		req.Header.Set("If-Match", `"1"`)
		mustStatus(t, "upload If-Match the version", h.send(t, req), 204)
	})

	t.Run("RestoreUndeletePrune", func(t *testing.T) {
		restore := func(token, p string, body any) *apitest.Response {
			return h.do(t, "POST", "/v1/secret-versions/"+p, token, body)
		}
		mustStatus(t, "restore v1", restore(writer, path, map[string]string{"action": "restore", "version_id": v1.ID}), 204)
		if got := h.readSecret(t, tok, path); got["v"] != "1" {
			t.Fatalf("after restoring v1: %v, want v=1", got)
		}
		got := h.versions(t, tok, path, "")
		if got.Total != 4 || got.Versions[0].VersionCreatedBy != "walt" {
			t.Errorf("after restoring: total %d, current by %q; want 4, walt (a new version)", got.Total, got.Versions[0].VersionCreatedBy)
		}
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   int
		}{
			{"UnknownVersion", map[string]string{"action": "restore", "version_id": "00000000-0000-4000-8000-000000000000"}, 404, 99996},
			{"NoVersionID", map[string]string{"action": "restore"}, 400, 99999},
			{"UnknownAction", map[string]string{"action": "destroy"}, 400, 99999},
			{"UndeleteLive", map[string]string{"action": "undelete"}, 400, 99999},
			{"NotJSON", "restore", 400, 99999},
		} {
			checkError(t, "POST versions "+tc.name, restore(tok, path, tc.body), tc.status, tc.code)
		}

		// Undelete: the value the delete removed comes back as a new version.
		mustStatus(t, "DELETE", h.do(t, "DELETE", "/v1/secret/"+path, tok, nil), 204)
		mustStatus(t, "undelete", restore(writer, path, map[string]string{"action": "undelete"}), 204)
		if got := h.readSecret(t, tok, path); got["v"] != "1" {
			t.Fatalf("after undelete: %v, want v=1", got)
		}
		checkError(t, "undelete a path never written", restore(tok, "app/history/never", map[string]string{"action": "undelete"}), 404, 99996)
		h.mustUpload(t, tok, "app/history/f.bin", []byte("file v1"))
		mustStatus(t, "DELETE file", h.do(t, "DELETE", "/v1/secure-file/app/history/f.bin", tok, nil), 204)
		mustStatus(t, "undelete file", restore(tok, "app/history/f.bin", map[string]string{"action": "undelete"}), 204)
		if res := mustStatus(t, "GET file", h.do(t, "GET", "/v1/secure-file/app/history/f.bin", tok, nil), 200); string(res.Body) != "file v1" {
			t.Errorf("undeleted file: %q, want %q", res.Body, "file v1")
		}

		// Prune: owners only; keep the newest records.
		before := h.versions(t, tok, path, "")
		checkGeneric403(t, "prune as a writer", h.do(t, "DELETE", "/v1/secret-versions/"+path+"?keep=1", writer, nil))
		res := mustStatus(t, "prune keep=1", h.do(t, "DELETE", "/v1/secret-versions/"+path+"?keep=1", tok, nil), 200)
		var pruned struct {
			N int `json:"pruned_version_count"`
		}
		res.JSON(t, &pruned)
		after := h.versions(t, tok, path, "")
		if pruned.N != before.Total-2 || after.Total != 2 || after.Versions[1].ID != before.Versions[1].ID {
			t.Errorf("prune keep=1: pruned %d, versions %q; want %d pruned, CURRENT and the newest record %s", pruned.N, after.summary(nil), before.Total-2, before.Versions[1].ID)
		}
		checkError(t, "prune keep=-1", h.do(t, "DELETE", "/v1/secret-versions/"+path+"?keep=-1", tok, nil), 400, 99999)
		mustStatus(t, "prune all", h.do(t, "DELETE", "/v1/secret-versions/"+path, tok, nil), 200)
		if got := h.versions(t, tok, path, ""); got.Total != 1 {
			t.Errorf("after pruning all: %q, want CURRENT only", got.summary(nil))
		}
	})

	t.Run("MaxVersions", func(t *testing.T) {
		var box sdbView
		res := h.do(t, "POST", "/v2/safe-deposit-box", tok, map[string]any{"name": "Bounded", "category_id": h.categoryID(t, tok, "app"), "owner": "grp-owner", "max_versions": 2})
		mustStatus(t, "create with max_versions", res, 201).JSON(t, &box)
		for i := range 5 {
			h.putSecret(t, tok, "app/bounded/s", map[string]any{"i": i})
		}
		if got := h.versions(t, tok, "app/bounded/s", ""); got.Total != 3 {
			t.Errorf("max_versions 2 after 5 writes: %d versions, want CURRENT and 2 records", got.Total)
		}
		// An update without max_versions (as the official clients send it)
		// keeps the bound; one with it changes it, and prunes at once.
		upd := sdbInput{Name: "Bounded", Owner: "grp-owner"}
		mustStatus(t, "update without max_versions", h.do(t, "PUT", "/v2/safe-deposit-box/"+box.ID, tok, upd), 200)
		var view struct {
			MaxVersions int `json:"max_versions"`
		}
		h.do(t, "GET", "/v2/safe-deposit-box/"+box.ID, tok, nil).JSON(t, &view)
		if view.MaxVersions != 2 {
			t.Errorf("max_versions after an update without it = %d, want 2", view.MaxVersions)
		}
		mustStatus(t, "update max_versions 1", h.do(t, "PUT", "/v2/safe-deposit-box/"+box.ID, tok, map[string]any{"owner": "grp-owner", "max_versions": 1}), 200)
		if got := h.versions(t, tok, "app/bounded/s", ""); got.Total != 2 {
			t.Errorf("after lowering max_versions to 1: %d versions, want 2", got.Total)
		}
		for _, bad := range []int{-1, 100001} {
			checkError(t, fmt.Sprintf("max_versions %d", bad), h.do(t, "PUT", "/v2/safe-deposit-box/"+box.ID, tok, map[string]any{"owner": "grp-owner", "max_versions": bad}), 400, 99999)
		}
	})

	t.Run("VersionPaths", func(t *testing.T) {
		var paths []string
		mustStatus(t, "GET version paths", h.do(t, "GET", "/v1/sdb-secret-version-paths/"+sdb.ID, tok, nil), 200).JSON(t, &paths)
		for _, want := range []string{path, "app/history/cas", "app/history/cas.bin", "app/history/f.bin", "app/history/other"} {
			if !slices.Contains(paths, want) {
				t.Errorf("version paths %q: want %s among them", paths, want)
			}
		}
		checkError(t, "unknown SDB", h.do(t, "GET", "/v1/sdb-secret-version-paths/"+cerberus.NewID(), tok, nil), 404, 99996)
	})
}

// jsonReader returns the JSON of v as a request body.
func jsonReader(tb testing.TB, v any) *bytes.Reader {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.NewReader(b)
}

// show renders an optional number as JSON does.
func show(p *int) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}
