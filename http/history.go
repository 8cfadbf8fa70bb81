package http

import (
	"net/http"
	"strconv"

	"github.com/cerberus-go/cerberus"
)

func (s *Server) handleListVersions(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pg, err := page(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.versions.ListVersions(r.Context(), p, pg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := versionListJSON{
		NextOffset: nextOffset(res.Page, len(res.Versions), res.Total),
		Limit:      res.Limit, Offset: res.Offset,
		Count: len(res.Versions), Total: res.Total,
		Versions: make([]versionSummaryJSON, 0, len(res.Versions)),
	}
	out.HasNext = out.NextOffset != nil
	for _, v := range res.Versions {
		out.Versions = append(out.Versions, versionSummaryJSON{
			ID: v.ID, SDBID: v.SDBID, Path: v.Path, Action: v.Action, Type: v.Type, SizeBytes: v.SizeBytes,
			VersionCreatedBy: v.VersionCreatedBy, VersionCreatedTS: timestamp(v.VersionCreatedAt),
			ActionPrincipal: v.ActionBy, ActionTS: timestamp(v.ActionAt),
		})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleVersionAction restores a version ({"action":"restore",
// "version_id":"…"}) or undoes the last delete ({"action":"undelete"}) of
// a secret or a file.
func (s *Server) handleVersionAction(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in versionActionJSON
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch in.Action {
	case "restore":
		if in.VersionID == "" {
			err = cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. A restore names the version_id to restore.")
		} else {
			err = s.versions.RestoreVersion(r.Context(), p, in.VersionID)
		}
	case "undelete":
		err = s.versions.Undelete(r.Context(), p)
	default:
		err = cerberus.Errorf(cerberus.ECodeBadRequest, `Request will not be completed. The action must be "restore" (with a version_id) or "undelete".`)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handlePruneVersions deletes the history of a path but its ?keep= newest
// records (default 0).
func (s *Server) handlePruneVersions(w http.ResponseWriter, r *http.Request) {
	p, err := cerberus.ParseSecretPath(r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	keep := 0
	if v := r.URL.Query().Get("keep"); v != "" {
		if keep, err = strconv.Atoi(v); err != nil || keep < 0 {
			s.writeError(w, r, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The query parameter keep must be a whole number of at least 0."))
			return
		}
	}
	n, err := s.versions.PruneVersions(r.Context(), p, keep)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"pruned_version_count": n})
}

func (s *Server) handleVersionPaths(w http.ResponseWriter, r *http.Request) {
	paths, err := s.versions.ListVersionPaths(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, paths)
}
