package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/internal/apitest"
)

// metadataList is the page of GET /v1/metadata.
type metadataList struct {
	HasNext    bool `json:"has_next"`
	NextOffset int  `json:"next_offset"`
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
	Count      int  `json:"sdb_count_in_result"`
	Total      int  `json:"total_sdbcount"`
	SDBs       []struct {
		ID                   string            `json:"id"`
		Name                 string            `json:"name"`
		Path                 string            `json:"path"`
		Category             string            `json:"category"`
		Owner                string            `json:"owner"`
		Description          *string           `json:"description"`
		CreatedBy            string            `json:"created_by"`
		CreatedTS            string            `json:"created_ts"`
		UserGroupPermissions map[string]string `json:"user_group_permissions"`
		IAMRolePermissions   map[string]string `json:"iam_role_permissions"`
		Data                 any               `json:"data"`
	} `json:"safe_deposit_box_metadata"`
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{})
	h.env.AddUser(t, "erin", "cerberus-admins")
	h.env.AddUser(t, "alice", "grp-a")
	admin, alice := h.login(t, "erin"), h.login(t, "alice")
	roles := h.roleIDs(t, alice)
	appID := h.categoryID(t, alice, "app")
	var boxes []sdbView
	for i, name := range []string{"Meta One", "Meta Two", "Meta Three"} {
		h.env.Clock.Advance(time.Second)
		desc := fmt.Sprintf("box %d", i)
		boxes = append(boxes, h.createSDB(t, alice, sdbInput{Name: name, CategoryID: appID, Owner: "grp-a", Description: &desc,
			UserGroupPermissions:    []groupPerm{{"grp-r", roles["read"]}},
			IAMPrincipalPermissions: []iamPerm{{"arn:aws:iam::111122223333:role/app", roles["write"]}}}))
	}
	h.putSecret(t, alice, "app/meta-one/db", map[string]any{"password": h.addSecret("meta-secret-value")})

	t.Run("ListMetadata", func(t *testing.T) {
		res := mustStatus(t, "GET /v1/metadata", h.do(t, "GET", "/v1/metadata", admin, nil), 200)
		if strings.Contains(string(res.Body), "meta-secret-value") {
			t.Fatalf("GET /v1/metadata holds a secret value: %s", res.Body)
		}
		var all metadataList
		res.JSON(t, &all)
		if all.Total != 3 || all.Count != 3 || all.HasNext || all.NextOffset != 0 || all.Limit != 100 {
			t.Fatalf("GET /v1/metadata: total %d, count %d, has_next %v, next_offset %d, limit %d; want 3, 3, false, 0, 100", all.Total, all.Count, all.HasNext, all.NextOffset, all.Limit)
		}
		first := all.SDBs[0]
		if first.Name != "Meta Three" || all.SDBs[2].Name != "Meta One" {
			t.Errorf("order %s … %s, want the newest first", first.Name, all.SDBs[2].Name)
		}
		if first.ID != boxes[2].ID || first.Path != "app/meta-three/" || first.Category != "Applications" || first.Owner != "grp-a" ||
			first.Description == nil || *first.Description != "box 2" || first.CreatedBy != "alice" || !tsRE.MatchString(first.CreatedTS) ||
			fmt.Sprint(first.UserGroupPermissions) != "map[grp-r:read]" ||
			fmt.Sprint(first.IAMRolePermissions) != "map[arn:aws:iam::111122223333:role/app:write]" || first.Data != nil {
			t.Errorf("metadata %+v: want id, path, category display name, owner (not among the groups), role names, data null", first)
		}
		var page metadataList
		mustStatus(t, "page", h.do(t, "GET", "/v1/metadata?limit=1&offset=1", admin, nil), 200).JSON(t, &page)
		if page.Count != 1 || page.SDBs[0].Name != "Meta Two" || !page.HasNext || page.NextOffset != 2 {
			t.Errorf("?limit=1&offset=1: %d SDBs, first %q, has_next %v, next_offset %d; want Meta Two, true, 2", page.Count, page.SDBs[0].Name, page.HasNext, page.NextOffset)
		}
		var one metadataList
		mustStatus(t, "sdbName", h.do(t, "GET", "/v1/metadata?sdbName=Meta+Two", admin, nil), 200).JSON(t, &one)
		if one.Total != 1 || len(one.SDBs) != 1 || one.SDBs[0].ID != boxes[1].ID {
			t.Errorf("?sdbName=Meta Two: total %d, %d SDBs; want Meta Two alone", one.Total, len(one.SDBs))
		}
		checkError(t, "sdbName unknown", h.do(t, "GET", "/v1/metadata?sdbName=meta+two", admin, nil), 404, 99996)
		checkGeneric403(t, "GET /v1/metadata as a member", h.do(t, "GET", "/v1/metadata", alice, nil))
	})

	t.Run("RestoreMetadata", func(t *testing.T) {
		// The restore of an existing SDB replaces its metadata and keeps its
		// secrets.
		var m map[string]any
		var list struct {
			SDBs []map[string]any `json:"safe_deposit_box_metadata"`
		}
		mustStatus(t, "sdbName", h.do(t, "GET", "/v1/metadata?sdbName=Meta+One", admin, nil), 200).JSON(t, &list)
		m = list.SDBs[0]
		m["owner"] = "grp-new-owner"
		m["description"] = "restored"
		m["user_group_permissions"] = map[string]string{"grp-a": "write"}
		m["iam_role_permissions"] = map[string]string{}
		m["created_ts"] = "2020-01-02T03:04:05.678Z"
		mustStatus(t, "PUT /v1/metadata (existing)", h.do(t, "PUT", "/v1/metadata", admin, m), 204)
		var got sdbView
		h.do(t, "GET", "/v2/safe-deposit-box/"+boxes[0].ID, alice, nil).JSON(t, &got)
		if got.Owner != "grp-new-owner" || got.Description == nil || *got.Description != "restored" || len(got.UserGroupPermissions) != 1 || len(got.IAMPrincipalPermissions) != 0 {
			t.Errorf("after the restore: %+v", got)
		}
		if data := h.readSecret(t, alice, "app/meta-one/db"); data["password"] != "meta-secret-value" {
			t.Errorf("secret after the restore of its SDB: %v, want it kept", data)
		}
		var again metadataList
		h.do(t, "GET", "/v1/metadata?sdbName=Meta+One", admin, nil).JSON(t, &again)
		if again.SDBs[0].CreatedTS != "2020-01-02T03:04:05.678Z" {
			t.Errorf("created_ts after the restore = %s, want the restored one", again.SDBs[0].CreatedTS)
		}

		// A new SDB is created under its id.
		id := cerberus.NewID()
		restored := map[string]any{"id": id, "name": "Restored Box", "path": "shared/restored-box/", "category": "Shared", "owner": "grp-a",
			"user_group_permissions": map[string]string{"grp-r": "read"}, "iam_role_permissions": map[string]string{"arn:aws:iam::111122223333:root": "owner"},
			"created_by": "someone", "last_updated_by": "someone else", "data": map[string]any{"ignored": true}}
		mustStatus(t, "PUT /v1/metadata (new)", h.do(t, "PUT", "/v1/metadata", admin, restored), 204)
		var created sdbView
		mustStatus(t, "GET restored", h.do(t, "GET", "/v2/safe-deposit-box/"+id, alice, nil), 200).JSON(t, &created)
		if created.Path != "shared/restored-box/" || created.Owner != "grp-a" || len(created.IAMPrincipalPermissions) != 1 {
			t.Errorf("restored SDB %+v", created)
		}

		for _, tc := range []struct {
			name   string
			change func(map[string]any)
			status int
			code   int
		}{
			{"UnknownCategory", func(m map[string]any) { m["category"] = "Nope" }, 400, 99207},
			{"UnknownRole", func(m map[string]any) { m["user_group_permissions"] = map[string]string{"g": "admin"} }, 400, 99203},
			{"PathMismatch", func(m map[string]any) { m["path"] = "app/elsewhere/" }, 400, 99999},
			{"BadID", func(m map[string]any) { m["id"] = "'; DROP TABLE sdbs" }, 400, 99999},
			{"NameTakenByAnother", func(m map[string]any) { m["id"] = cerberus.NewID(); m["name"] = "Meta Two"; m["path"] = "" }, 400, 99210},
			{"Rename", func(m map[string]any) { m["name"] = "Renamed"; m["path"] = "" }, 400, 99999},
			{"NoOwner", func(m map[string]any) { m["owner"] = "" }, 400, 99209},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := map[string]any{}
				for k, v := range restored {
					m[k] = v
				}
				tc.change(m)
				checkError(t, "PUT /v1/metadata "+tc.name, h.do(t, "PUT", "/v1/metadata", admin, m), tc.status, tc.code)
			})
		}
		checkGeneric403(t, "PUT /v1/metadata as a member", h.do(t, "PUT", "/v1/metadata", alice, restored))
	})

	t.Run("OverrideOwner", func(t *testing.T) {
		// The new owner's other grant goes, as in the original.
		mustStatus(t, "override", h.do(t, "PUT", "/v1/admin/override-owner", admin, map[string]string{"name": "Meta Two", "owner": "grp-r"}), 204)
		var got metadataList
		h.do(t, "GET", "/v1/metadata?sdbName=Meta+Two", admin, nil).JSON(t, &got)
		if m := got.SDBs[0]; m.Owner != "grp-r" || len(m.UserGroupPermissions) != 0 {
			t.Errorf("after override: owner %q, groups %v; want grp-r and no other grant", m.Owner, m.UserGroupPermissions)
		}
		checkGeneric403(t, "GET the SDB as its old owner", h.do(t, "GET", "/v2/safe-deposit-box/"+boxes[1].ID, alice, nil))
		checkError(t, "unknown SDB", h.do(t, "PUT", "/v1/admin/override-owner", admin, map[string]string{"name": "Nope", "owner": "g"}), 404, 99996)
		checkError(t, "blank owner", h.do(t, "PUT", "/v1/admin/override-owner", admin, map[string]string{"name": "Meta Two", "owner": " "}), 400, 99209)
		checkGeneric403(t, "override as a member", h.do(t, "PUT", "/v1/admin/override-owner", alice, map[string]string{"name": "Meta Three", "owner": "grp-x"}))
	})

	t.Run("Categories", func(t *testing.T) {
		res := mustStatus(t, "POST /v1/category", h.do(t, "POST", "/v1/category", admin, map[string]string{"display_name": "Team Ünïcorn"}), 201)
		loc := res.Header.Get("Location")
		if !strings.HasPrefix(loc, h.env.URL+"/v1/category/") || len(res.Body) != 0 {
			t.Fatalf("POST /v1/category: Location %q, body %q; want an absolute URL and no body", loc, res.Body)
		}
		id := strings.TrimPrefix(loc, h.env.URL+"/v1/category/")
		var cat struct {
			Path      string `json:"path"`
			CreatedBy string `json:"created_by"`
		}
		mustStatus(t, "GET the category", h.do(t, "GET", "/v1/category/"+id, alice, nil), 200).JSON(t, &cat)
		if cat.Path != "team-unicorn" || cat.CreatedBy != "erin" {
			t.Errorf("created category %+v, want path team-unicorn by erin", cat)
		}
		// An SDB can be made in it, and while one is, it stays.
		h.createSDB(t, alice, sdbInput{Name: "In Unicorn", CategoryID: id, Owner: "grp-a"})
		checkError(t, "DELETE a category in use", h.do(t, "DELETE", "/v1/category/"+id, admin, nil), 409, 99989)
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   int
		}{
			{"Blank", map[string]string{"display_name": " "}, 400, 99200},
			{"TooLong", map[string]string{"display_name": strings.Repeat("x", 101)}, 400, 99201},
			{"NoLetter", map[string]string{"display_name": "!!!"}, 400, 99999},
			{"Duplicate", map[string]string{"display_name": "Team Ünïcorn"}, 409, 99988},
			{"SamePath", map[string]string{"display_name": "team unicorn"}, 409, 99988},
		} {
			checkError(t, "POST /v1/category "+tc.name, h.do(t, "POST", "/v1/category", admin, tc.body), tc.status, tc.code)
		}
		checkGeneric403(t, "POST /v1/category as a member", h.do(t, "POST", "/v1/category", alice, map[string]string{"display_name": "Mine"}))
		res = mustStatus(t, "POST an empty category", h.do(t, "POST", "/v1/category", admin, map[string]string{"display_name": "Empty"}), 201)
		empty := strings.TrimPrefix(res.Header.Get("Location"), h.env.URL+"/v1/category/")
		checkGeneric403(t, "DELETE /v1/category as a member", h.do(t, "DELETE", "/v1/category/"+empty, alice, nil))
		mustStatus(t, "DELETE the empty category", h.do(t, "DELETE", "/v1/category/"+empty, admin, nil), 204)
		if res := h.do(t, "DELETE", "/v1/category/"+empty, admin, nil); res.Status != 404 || len(res.Body) != 0 {
			t.Errorf("DELETE a missing category: %d %q, want 404 with an empty body", res.Status, res.Body)
		}
	})

	t.Run("InfoAndFeatureFlags", func(t *testing.T) {
		var info struct {
			Build struct{ Version, Name string } `json:"build"`
		}
		mustStatus(t, "GET /info without a token", h.do(t, "GET", "/info", "", nil), 200).JSON(t, &info)
		if info.Build.Version != "test" || info.Build.Name != "Cerberus" {
			t.Errorf("GET /info: %+v, want build.version and build.name", info)
		}
		checkGeneric401(t, "GET /v1/feature-flag without a token", h.do(t, "GET", "/v1/feature-flag", "", nil))
		res := mustStatus(t, "GET /v1/feature-flag", h.do(t, "GET", "/v1/feature-flag", alice, nil), 200)
		checkKeys(t, "GET /v1/feature-flag", res.Body, "adGroupNamePrefix", "bannerMessage", "sdbWarningMessage")
	})
	t.Run("Audit", func(t *testing.T) { h.checkAudit(t) })
}

// TestAnySecretBody runs the server with the original's rule of secret
// bodies: anything is stored, and what is not JSON reads back as null.
func TestAnySecretBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, apitest.Options{SecretBodies: cerberus.BodyAny})
	h.env.AddUser(t, "alice", "grp-a")
	tok := h.login(t, "alice")
	h.createSDB(t, tok, sdbInput{Name: "Any", CategoryID: h.categoryID(t, tok, "app"), Owner: "grp-a"})
	for _, tc := range []struct{ body, data string }{
		{`{"a":"b"}`, `{"a":"b"}`},
		{`["x",1]`, `["x",1]`},
		{`"just a string"`, `"just a string"`},
		{`key=value`, `null`},
		{"\xff\xfe", `null`},
	} {
		mustStatus(t, "PUT "+tc.body, h.rawDo(t, "PUT", "/v1/secret/app/any/s", tok, []byte(tc.body)), 204)
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		mustStatus(t, "GET", h.do(t, "GET", "/v1/secret/app/any/s", tok, nil), 200).JSON(t, &env)
		if string(env.Data) != tc.data {
			t.Errorf("PUT %q then GET: data %s, want %s", tc.body, env.Data, tc.data)
		}
	}
	big := `"` + strings.Repeat("x", 300<<10) + `"`
	checkError(t, "PUT over the size limit", h.rawDo(t, "PUT", "/v1/secret/app/any/s", tok, []byte(big)), http.StatusRequestEntityTooLarge, 99993)
}
