package mimecasttest

import "net/http"

// account is the data item of the get-account answer: the account's settings
// and the packages it holds (BYOPackage allows hash pushes).
type account struct {
	MaxRetention          int      `json:"maxRetention"`
	AccountCode           string   `json:"accountCode"`
	Domain                string   `json:"domain"`
	AutomatedSegmentPurge bool     `json:"automatedSegmentPurge"`
	DatabaseCode          string   `json:"databaseCode"`
	SupportCode           string   `json:"supportCode"`
	Region                string   `json:"region"`
	AccountName           string   `json:"accountName"`
	MaxRetentionConfirmed bool     `json:"maxRetentionConfirmed"`
	Archive               bool     `json:"archive"`
	Gateway               bool     `json:"gateway"`
	PolicyInheritance     bool     `json:"policyInheritance"`
	Type                  string   `json:"type"`
	MailPlatform          string   `json:"mailPlatform"`
	Packages              []string `json:"packages"`
	MimecastID            string   `json:"mimecastId"`
	AdminEmail            string   `json:"adminEmail"`
	UserCount             int      `json:"userCount"`
}

func (s *Server) handleGetAccount(w *bufWriter, _ *apiRequest, _ *http.Request) {
	s.mu.Lock()
	pkgs := append([]string{}, s.packages...)
	s.mu.Unlock()
	writeEnvelope(w, http.StatusOK, []account{{
		MaxRetention: 30, AccountCode: "CUSA12A34", Domain: "acme.example", DatabaseCode: "usterm0001",
		SupportCode: "SUP-1234", Region: "us", AccountName: "Acme (mimecasttest)", Gateway: true,
		Type: "full", MailPlatform: "office365", Packages: pkgs, MimecastID: "01-0001-00001",
		AdminEmail: "admin@acme.example", UserCount: 20,
	}}, nil, nil)
}
