package http

import (
	"net/http"

	"github.com/cerberus-go/cerberus"
)

func (s *Server) handleListMetadata(w http.ResponseWriter, r *http.Request) {
	pg, err := page(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.admin.ListSDBMetadata(r.Context(), r.URL.Query().Get("sdbName"), pg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := metadataListJSON{
		Limit: res.Limit, Offset: res.Offset, Count: len(res.SDBs), Total: res.Total,
		SDBs: make([]metadataJSON, 0, len(res.SDBs)),
	}
	if next := nextOffset(res.Page, len(res.SDBs), res.Total); next != nil {
		out.HasNext, out.NextOffset = true, *next
	}
	for _, m := range res.SDBs {
		out.SDBs = append(out.SDBs, toMetadata(m))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

func (s *Server) handleRestoreMetadata(w http.ResponseWriter, r *http.Request) {
	var in metadataInputJSON
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.admin.RestoreSDBMetadata(r.Context(), in.domain()); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleOverrideOwner(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string `json:"name"`
		Owner string `json:"owner"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.admin.OverrideOwner(r.Context(), in.Name, in.Owner); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleCreateCategory answers 201 with the new category's absolute URL in
// Location and no body, as the original.
func (s *Server) handleCreateCategory(w http.ResponseWriter, r *http.Request) {
	var in struct {
		DisplayName string `json:"display_name"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.admin.CreateCategory(r.Context(), in.DisplayName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", baseURL(r)+"/v1/category/"+c.ID)
	w.WriteHeader(http.StatusCreated)
}

// handleDeleteCategory answers a missing category with 404 and an empty
// body, as the original.
func (s *Server) handleDeleteCategory(w http.ResponseWriter, r *http.Request) {
	err := s.admin.DeleteCategory(r.Context(), r.PathValue("id"))
	switch {
	case cerberus.Code(err) == cerberus.ECodeNotFound:
		w.WriteHeader(http.StatusNotFound)
	case err != nil:
		s.writeError(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// handleInfo answers /info with the build, as the original's Spring
// actuator did; the original dashboard reads build.version.
func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]any{
		"build": map[string]string{"name": "Cerberus", "artifact": "cerberus-go", "version": s.version},
	})
}

// handleFeatureFlags answers the settings the original dashboard reads.
// Group names need no prefix here, so adGroupNamePrefix is empty.
func (s *Server) handleFeatureFlags(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{
		"adGroupNamePrefix": "",
		"bannerMessage":     s.bannerMessage,
		"sdbWarningMessage": s.sdbWarningMessage,
	})
}
