package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
)

// readBody reads a request body of at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int) ([]byte, error) {
	if r.ContentLength > int64(max) {
		return nil, cerberus.Errorf(cerberus.ECodeTooLarge, "The request body is larger than the limit of %d bytes.", max)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(max)))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, cerberus.Errorf(cerberus.ECodeTooLarge, "The request body is larger than the limit of %d bytes.", max)
	case err != nil:
		return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The request body could not be read.")
	}
	return b, nil
}

// decodeJSON reads a JSON request body into v. A Content-Type, when given,
// must be JSON.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return cerberus.Errorf(cerberus.ECodeUnsupportedMedia, "The request body must be JSON (Content-Type: application/json).")
		}
	}
	b, err := readBody(w, r, maxJSONBody)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return jsonBodyError(b, err)
	}
	return nil
}

// jsonBodyError tells the caller what is wrong with a JSON body that err
// refused: that it is not JSON at all, or which field has a value of the
// wrong type. It quotes nothing of the body.
func jsonBodyError(body []byte, err error) error {
	var typ *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The request body is empty; this call takes a JSON object.")
	case !json.Valid(body):
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The request body is not valid JSON: %s.", cerberus.JSONSyntaxError(body))
	case errors.As(err, &typ) && typ.Field != "":
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The field %q must be %s, not a JSON %s.", typ.Field, jsonTypeName(typ.Type.Kind()), typ.Value)
	case errors.As(err, &typ):
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The request body must be %s, not a JSON %s.", jsonTypeName(typ.Type.Kind()), typ.Value)
	}
	return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The request body is valid JSON, but not what this call takes.")
}

// jsonTypeName names, for a caller, the JSON value that a Go kind decodes.
func jsonTypeName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

func (s *Server) handleUserLogin(w http.ResponseWriter, r *http.Request) {
	user, pw, ok := r.BasicAuth()
	if !ok {
		audit.FromContext(r.Context()).SetReason("missing or malformed Basic authorization")
		s.writeError(w, r, cerberus.Errorf(cerberus.ECodeBadCredentials, "Invalid credentials"))
		return
	}
	res, err := s.auth.LoginUser(r.Context(), user, pw)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Token == nil {
		setLoginOutcome(w, "mfa_required")
	}
	s.writeJSON(w, r, http.StatusOK, toAuthResponse(res))
}

func (s *Server) handleMFACheck(w http.ResponseWriter, r *http.Request) {
	var in mfaCheckJSON
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.auth.CheckMFA(r.Context(), in.StateToken, in.DeviceID, in.OTPToken)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, toAuthResponse(res))
}

// handleSTSLogin reads only the signature headers: the body and every other
// header the caller sends are ignored.
func (s *Server) handleSTSLogin(w http.ResponseWriter, r *http.Request) {
	it, err := s.auth.LoginSTS(r.Context(), cerberus.AWSSignature{
		Authorization: r.Header.Get("Authorization"),
		AmzDate:       r.Header.Get("X-Amz-Date"),
		SecurityToken: r.Header.Get("X-Amz-Security-Token"),
		ServerID:      r.Header.Get("X-Cerberus-Server-ID"),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, toIAMToken(it))
}

// handleKMSLogin answers the deprecated KMS logins, which STS replaces.
func (s *Server) handleKMSLogin(w http.ResponseWriter, r *http.Request) {
	audit.FromContext(r.Context()).SetReason("deprecated KMS login")
	s.writeError(w, r, cerberus.Errorf(cerberus.ECodeBadRequest,
		"Request will not be completed. KMS-based IAM authentication is not offered: sign an AWS STS GetCallerIdentity request and POST its headers to /v2/auth/sts-identity (every official client does this with its STS auth)."))
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	res, err := s.auth.RefreshToken(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, toAuthResponse(res))
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.Logout(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleListCategories(w http.ResponseWriter, r *http.Request) {
	cats, err := s.sdbs.ListCategories(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []categoryJSON{}
	for _, c := range cats {
		out = append(out, toCategory(c))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// baseURL returns the scheme and host the request was sent to, for the
// absolute Location of a created resource, as the original gave it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

func (s *Server) handleGetCategory(w http.ResponseWriter, r *http.Request) {
	cats, err := s.sdbs.ListCategories(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, c := range cats {
		if c.ID == r.PathValue("id") {
			s.writeJSON(w, r, http.StatusOK, toCategory(c))
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
}

func (s *Server) handleListRoles(w http.ResponseWriter, r *http.Request) {
	roles, err := s.sdbs.ListRoles(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []roleJSON{}
	for _, x := range roles {
		out = append(out, toRole(x))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) handleGetRole(w http.ResponseWriter, r *http.Request) {
	roles, err := s.sdbs.ListRoles(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, x := range roles {
		if x.ID == r.PathValue("id") {
			s.writeJSON(w, r, http.StatusOK, toRole(x))
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
}

func (s *Server) handleListSDBs(w http.ResponseWriter, r *http.Request) {
	sdbs, err := s.sdbs.FindSDBs(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []sdbSummaryJSON{}
	for _, x := range sdbs {
		out = append(out, sdbSummaryJSON{ID: x.ID, Name: x.Name, Path: x.Path, CategoryID: x.CategoryID})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) handleCreateSDB(w http.ResponseWriter, r *http.Request) {
	var in sdbInputJSON
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	sdb, err := s.sdbs.CreateSDB(r.Context(), in.domain())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", baseURL(r)+"/v2/safe-deposit-box/"+sdb.ID)
	s.writeJSON(w, r, http.StatusCreated, toSDB(sdb))
}

func (s *Server) handleGetSDB(w http.ResponseWriter, r *http.Request) {
	sdb, err := s.sdbs.FindSDBByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, toSDB(sdb))
}

func (s *Server) handleUpdateSDB(w http.ResponseWriter, r *http.Request) {
	var in sdbInputJSON
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	sdb, err := s.sdbs.UpdateSDB(r.Context(), r.PathValue("id"), in.domain())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, toSDB(sdb))
}

func (s *Server) handleDeleteSDB(w http.ResponseWriter, r *http.Request) {
	if err := s.sdbs.DeleteSDB(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleReadSecret(w http.ResponseWriter, r *http.Request) {
	// A secret, or the names under a path, is never for a cache to keep.
	w.Header().Set("Cache-Control", "no-store")
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	if q.Get("list") == "true" {
		keys, err := s.secrets.ListSecrets(r.Context(), p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		data, _ := json.Marshal(map[string][]string{"keys": keys})
		s.writeJSON(w, r, http.StatusOK, secretResponseJSON{LeaseDuration: 3600, Data: data, Metadata: map[string]string{}})
		return
	}
	versionID := q.Get("versionId")
	sec, err := s.secrets.ReadSecret(r.Context(), p, versionID)
	if errors.Is(err, cerberus.ErrSecretNotFound) {
		audit.FromContext(r.Context()).SetReason("no secret at this path")
		w.WriteHeader(http.StatusNotFound)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	meta := map[string]string{}
	if v := sec.VersionInfo; v != nil {
		meta = map[string]string{
			"version_id":         v.ID,
			"action":             v.Action,
			"action_ts":          formatTime(v.ActionAt),
			"action_principal":   v.ActionBy,
			"version_created_by": v.VersionCreatedBy,
			"version_created_ts": formatTime(v.VersionCreatedAt),
		}
	}
	if versionID == "" || versionID == cerberus.CurrentVersion {
		meta["created_by"] = sec.CreatedBy
		meta["created_ts"] = formatTime(sec.CreatedAt)
		meta["last_updated_by"] = sec.LastUpdatedBy
		meta["last_updated_ts"] = formatTime(sec.LastUpdatedAt)
		w.Header().Set("ETag", etag(sec.Version))
	}
	data := json.RawMessage(sec.Data.Reveal())
	if !json.Valid(data) {
		// Stored where any body is accepted, as the original did: a body
		// that is not JSON reads back as null.
		data = json.RawMessage("null")
	}
	id := cerberus.NewID()
	s.writeJSON(w, r, http.StatusOK, secretResponseJSON{
		RequestID:     &id,
		LeaseDuration: 3600,
		Data:          data,
		Metadata:      meta,
	})
}

// etag is the entity tag of a live value: its version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// writeOptions reads the condition of a write from its headers:
// "If-Match: <etag>" writes only over that version, "If-None-Match: *"
// only where there is no value.
func writeOptions(r *http.Request) (cerberus.WriteOptions, error) {
	match, noneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case match != "" && noneMatch != "":
		return cerberus.WriteOptions{}, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. Send If-Match or If-None-Match, not both.")
	case noneMatch == "*":
		zero := int64(0)
		return cerberus.WriteOptions{IfVersion: &zero}, nil
	case noneMatch != "":
		return cerberus.WriteOptions{}, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. If-None-Match accepts only *: write only where there is no value.")
	case match != "":
		v, err := strconv.ParseInt(strings.TrimPrefix(strings.Trim(match, `"`), "W/"), 10, 64)
		if err != nil || v < 1 || !strings.HasPrefix(match, `"`) || !strings.HasSuffix(match, `"`) {
			return cerberus.WriteOptions{}, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. If-Match must be the ETag of a read, such as \"3\".")
		}
		return cerberus.WriteOptions{IfVersion: &v}, nil
	}
	return cerberus.WriteOptions{}, nil
}

func (s *Server) handleWriteSecret(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := writeOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The service validates the body (a JSON object within the limit).
	if err := s.secrets.WriteSecret(r.Context(), p, cerberus.SecretData(b), opts); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleDeleteSecret(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.secrets.DeleteSecret(r.Context(), p); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
