package idp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/comuni-italiani/sportello/app/audit"
	"github.com/comuni-italiani/sportello/app/store"
)

// PortalClientID is the client id of the portal's own relying party (app/auth).
const PortalClientID = "sportello"

// ErrUnknownClient is returned by RemoveClient and SetPostLogoutURIs for an id that is
// not registered.
var ErrUnknownClient = errors.New("idp: unknown client")

// Client is a registered OAuth 2.0 / OpenID Connect client as administrators see it.
// The secret is never shown again after registration: only its SHA-256 hash is kept
// (see secretHasher).
type Client struct {
	ID                     string
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Scopes                 []string
	// Public clients (apps that cannot keep a secret) have no secret and must use PKCE.
	Public    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

var (
	clientGrantTypes    = []string{"authorization_code", "refresh_token"}
	clientResponseTypes = []string{"code"}
)

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func parseList(s string) []string {
	var out []string
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// fositeClient is the client as fosite sees it. The only response mode is query:
// form_post would need an inline script, which the portal's CSP forbids.
func (r *clientRow) fositeClient() (fosite.Client, error) {
	return &fosite.DefaultResponseModeClient{
		DefaultClient: &fosite.DefaultClient{
			ID: r.ID, Secret: []byte(r.SecretHash), RedirectURIs: parseList(r.RedirectURIs),
			GrantTypes: parseList(r.GrantTypes), ResponseTypes: parseList(r.ResponseTypes),
			Scopes: parseList(r.Scopes), Public: r.Public,
		},
		ResponseModes: []fosite.ResponseModeType{fosite.ResponseModeQuery},
	}, nil
}

func (r *clientRow) view() Client {
	return Client{ID: r.ID, Name: r.Name, RedirectURIs: parseList(r.RedirectURIs),
		PostLogoutRedirectURIs: parseList(r.PostLogoutRedirectURIs), Scopes: parseList(r.Scopes),
		Public: r.Public, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// checkURIs accepts absolute URIs without fragment; http(s) ones need a host. Whether
// plain http is acceptable is decided when the URI is used (see redirectSecure).
func checkURIs(uris []string) error {
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.ContainsAny(raw, " \t\r\n") {
			return fmt.Errorf("idp: %q is not an absolute URI without fragment", raw)
		}
		if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
			return fmt.Errorf("idp: %q has no host", raw)
		}
	}
	return nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Provider) hashSecret(ctx context.Context, secret string) (string, error) {
	h, err := p.config.GetSecretsHasher(ctx).Hash(ctx, []byte(secret))
	if err != nil {
		return "", fmt.Errorf("idp: hash client secret: %w", err)
	}
	return string(h), nil
}

// portalSecret derives the portal client's secret from a random seed kept in
// idp_secrets: every replica, at every start, computes the same secret, and only its
// SHA-256 hash is stored with the client.
func (p *Provider) portalSecret(ctx context.Context) (string, error) {
	seed, err := putSecret(ctx, p.db, "portal_client_seed", func() (string, error) { return randomToken(32), nil }, p.now())
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte("client-secret:" + PortalClientID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// EnsurePortalClient registers the portal's own confidential client (PortalClientID),
// or updates its redirect URIs, and returns its id and secret for app/auth. It is
// idempotent and cheap when nothing changed. The secret is derived from a random seed
// the provider keeps in its database (see the package documentation), so the portal
// gets the same secret at every start on every replica without it being configured,
// while the client row stores only its SHA-256 hash.
func (p *Provider) EnsurePortalClient(ctx context.Context, redirectURI, postLogoutURI string) (clientID, secret string, err error) {
	redirects := []string{redirectURI}
	var logouts []string
	if postLogoutURI != "" {
		logouts = []string{postLogoutURI}
	}
	if err := checkURIs(append(slices.Clone(redirects), logouts...)); err != nil {
		return "", "", err
	}
	secret, err = p.portalSecret(ctx)
	if err != nil {
		return "", "", err
	}
	var row clientRow
	err = p.db.WithContext(ctx).Where("id = ?", PortalClientID).Take(&row).Error
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", "", err
	}
	if exists && row.RedirectURIs == jsonList(redirects) && row.PostLogoutRedirectURIs == jsonList(logouts) &&
		row.Scopes == jsonList(SupportedScopes) && row.GrantTypes == jsonList(clientGrantTypes) && !row.Public &&
		p.config.GetSecretsHasher(ctx).Compare(ctx, []byte(row.SecretHash), []byte(secret)) == nil {
		return PortalClientID, secret, nil
	}
	hash, err := p.hashSecret(ctx, secret)
	if err != nil {
		return "", "", err
	}
	now := p.now().UTC()
	row = clientRow{ID: PortalClientID, Name: "Sportello del Cittadino", SecretHash: hash,
		RedirectURIs: jsonList(redirects), PostLogoutRedirectURIs: jsonList(logouts),
		GrantTypes: jsonList(clientGrantTypes), ResponseTypes: jsonList(clientResponseTypes),
		Scopes: jsonList(SupportedScopes), CreatedAt: now, UpdatedAt: now}
	action := "idp.client_add"
	if exists {
		action = "idp.client_update"
	}
	err = store.WithTx(ctx, p.db, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "id"}},
			DoUpdates: clause.AssignmentColumns([]string{"name", "secret_hash", "redirect_uris",
				"post_logout_redirect_uris", "grant_types", "response_types", "scopes", "public", "updated_at"}),
		}).Create(&row).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: action,
			ObjectType: "idp_client", ObjectID: PortalClientID, Details: map[string]any{"redirect_uris": redirects}})
	})
	if err != nil {
		return "", "", fmt.Errorf("idp: register portal client: %w", err)
	}
	return PortalClientID, secret, nil
}

// AddClient registers a client of the comune with its redirect URIs and returns its
// generated id and, for a confidential client, its secret: the only time the secret
// exists in clear. Public clients get no secret and must use PKCE. Every client may
// request every supported scope; consent is implicit (see the package documentation).
func (p *Provider) AddClient(ctx context.Context, name string, redirectURIs []string, public bool) (id, secret string, err error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", "", errors.New("idp: a client needs a name of at most 200 characters")
	}
	if len(redirectURIs) == 0 {
		return "", "", errors.New("idp: a client needs at least one redirect URI")
	}
	if err := checkURIs(redirectURIs); err != nil {
		return "", "", err
	}
	idBytes := make([]byte, 10)
	if _, err := rand.Read(idBytes); err != nil {
		return "", "", err
	}
	id = "c-" + hex.EncodeToString(idBytes)
	hash := ""
	if !public {
		secret = randomToken(32)
		if hash, err = p.hashSecret(ctx, secret); err != nil {
			return "", "", err
		}
	}
	now := p.now().UTC()
	row := clientRow{ID: id, Name: name, SecretHash: hash, RedirectURIs: jsonList(redirectURIs),
		PostLogoutRedirectURIs: jsonList(nil), GrantTypes: jsonList(clientGrantTypes),
		ResponseTypes: jsonList(clientResponseTypes), Scopes: jsonList(SupportedScopes), Public: public,
		CreatedAt: now, UpdatedAt: now}
	err = store.WithTx(ctx, p.db, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: "idp.client_add",
			ObjectType: "idp_client", ObjectID: id,
			Details: map[string]any{"name": name, "redirect_uris": redirectURIs, "public": public}})
	})
	if err != nil {
		return "", "", fmt.Errorf("idp: add client: %w", err)
	}
	return id, secret, nil
}

// SetPostLogoutURIs replaces the URIs a client may ask the provider to return to after
// logout (post_logout_redirect_uri).
func (p *Provider) SetPostLogoutURIs(ctx context.Context, id string, uris []string) error {
	if err := checkURIs(uris); err != nil {
		return err
	}
	return store.WithTx(ctx, p.db, func(tx *gorm.DB) error {
		res := tx.Model(&clientRow{}).Where("id = ?", id).Updates(map[string]any{
			"post_logout_redirect_uris": jsonList(uris), "updated_at": p.now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrUnknownClient
		}
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: "idp.client_update",
			ObjectType: "idp_client", ObjectID: id, Details: map[string]any{"post_logout_redirect_uris": uris}})
	})
}

// ListClients returns the registered clients ordered by name.
func (p *Provider) ListClients(ctx context.Context) ([]Client, error) {
	var rows []clientRow
	if err := p.db.WithContext(ctx).Order("name, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Client, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out, nil
}

// client returns one registered client.
func (p *Provider) client(ctx context.Context, id string) (*clientRow, error) {
	var row clientRow
	if err := p.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnknownClient
		}
		return nil, err
	}
	return &row, nil
}

// RemoveClient deletes a client together with its codes and tokens, which stop
// working at once. Removing the portal's own client is allowed; EnsurePortalClient
// registers it again at the next start (with the same secret).
func (p *Provider) RemoveClient(ctx context.Context, id string) error {
	return store.WithTx(ctx, p.db, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&clientRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrUnknownClient
		}
		for _, m := range []any{&codeRow{}, &accessRow{}, &refreshRow{}} {
			if err := tx.Where("client_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: "idp.client_remove",
			ObjectType: "idp_client", ObjectID: id})
	})
}
