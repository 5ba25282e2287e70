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

// portalSecret derives the portal client's secret from a random seed kept (sealed)
// in idp_secrets: every replica, at every start, computes the same secret, and only its
// SHA-256 hash is stored with the client.
func (p *Provider) portalSecret(ctx context.Context) (string, error) {
	seed, err := putSecret(ctx, p.db, p.box, "portal_client_seed", func() (string, error) { return randomToken(32), nil }, p.now())
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte("client-secret:" + PortalClientID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// PortalClientSecret returns the portal client's secret (derived, see portalSecret)
// without touching its registration: what a process that does not serve (a command)
// needs.
func (p *Provider) PortalClientSecret(ctx context.Context) (clientID, secret string, err error) {
	secret, err = p.portalSecret(ctx)
	if err != nil {
		return "", "", err
	}
	return PortalClientID, secret, nil
}

// EnsurePortalClient registers the portal's own confidential client (PortalClientID)
// and makes sure redirectURI and postLogoutURI are among its URIs, and returns its id
// and secret for app/auth. Only a serving process calls it (commands use
// PortalClientSecret). URIs are added, never replaced: replicas reached at different
// base URLs (an internal and a public address, a renamed host) each add theirs and
// none undoes another's; an address no longer used stays registered until removed
// (RemovePortalURIs, `sportello idp portal forget BASE_URL`). It is idempotent and cheap
// when nothing changes; concurrent starts merge their URIs (compare-and-swap on the
// stored lists). The secret is derived from a random seed the provider keeps in its
// database (see the package documentation), so the portal gets the same secret at
// every start on every replica without it being configured, while the client row
// stores only its SHA-256 hash.
func (p *Provider) EnsurePortalClient(ctx context.Context, redirectURI, postLogoutURI string) (clientID, secret string, err error) {
	var logouts []string
	if postLogoutURI != "" {
		logouts = []string{postLogoutURI}
	}
	return p.EnsurePortalClientURIs(ctx, []string{redirectURI}, logouts)
}

// EnsurePortalClientURIs is EnsurePortalClient for a portal reached at several
// addresses (one per ente host): every redirect and post-logout URI is added.
func (p *Provider) EnsurePortalClientURIs(ctx context.Context, redirects, logouts []string) (clientID, secret string, err error) {
	if err := checkURIs(append(slices.Clone(redirects), logouts...)); err != nil {
		return "", "", err
	}
	secret, err = p.portalSecret(ctx)
	if err != nil {
		return "", "", err
	}
	// Each failed try means another process committed its change meanwhile, and each
	// process commits once: with n replicas starting together a try fails at most
	// n-1 times. The bound only stops a runaway loop.
	for try := range 100 {
		done, err := p.mergePortalClient(ctx, secret, redirects, logouts)
		if err != nil {
			return "", "", fmt.Errorf("idp: register portal client: %w", err)
		}
		if done {
			return PortalClientID, secret, nil
		}
		time.Sleep(time.Duration(try+1) * time.Millisecond)
	}
	return "", "", errors.New("idp: register portal client: too many concurrent changes")
}

// union returns have followed by the elements of add it lacks.
func union(have, add []string) []string {
	out := slices.Clone(have)
	for _, u := range add {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// mergePortalClient is one try of EnsurePortalClient: false when another process
// changed the row meanwhile (try again).
func (p *Provider) mergePortalClient(ctx context.Context, secret string, redirects, logouts []string) (bool, error) {
	var row clientRow
	err := p.db.WithContext(ctx).Where("id = ?", PortalClientID).Take(&row).Error
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	secretOK := exists && p.config.GetSecretsHasher(ctx).Compare(ctx, []byte(row.SecretHash), []byte(secret)) == nil
	newRedirects, newLogouts := redirects, logouts
	if exists {
		newRedirects = union(parseList(row.RedirectURIs), redirects)
		newLogouts = union(parseList(row.PostLogoutRedirectURIs), logouts)
	}
	if exists && row.RedirectURIs == jsonList(newRedirects) && row.PostLogoutRedirectURIs == jsonList(newLogouts) &&
		row.Scopes == jsonList(SupportedScopes) && row.GrantTypes == jsonList(clientGrantTypes) && !row.Public && secretOK {
		return true, nil
	}
	hash := row.SecretHash
	if !secretOK {
		if hash, err = p.hashSecret(ctx, secret); err != nil {
			return false, err
		}
	}
	now := p.now().UTC()
	details := map[string]any{"redirect_uris": newRedirects, "post_logout_redirect_uris": newLogouts}
	done := false
	err = store.WithTx(ctx, p.db, func(tx *gorm.DB) error {
		action := "idp.client_update"
		if !exists {
			action = "idp.client_add"
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&clientRow{ID: PortalClientID,
				Name: "Sportello del Cittadino", SecretHash: hash, RedirectURIs: jsonList(newRedirects),
				PostLogoutRedirectURIs: jsonList(newLogouts), GrantTypes: jsonList(clientGrantTypes),
				ResponseTypes: jsonList(clientResponseTypes), Scopes: jsonList(SupportedScopes), CreatedAt: now, UpdatedAt: now})
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error // another process created it: merge again
			}
		} else {
			// Conditional on the lists read: a concurrent start's URIs are not lost.
			res := tx.Model(&clientRow{}).Where("id = ? AND redirect_uris = ? AND post_logout_redirect_uris = ?",
				PortalClientID, row.RedirectURIs, row.PostLogoutRedirectURIs).Updates(map[string]any{
				"secret_hash": hash, "redirect_uris": jsonList(newRedirects), "post_logout_redirect_uris": jsonList(newLogouts),
				"grant_types": jsonList(clientGrantTypes), "response_types": jsonList(clientResponseTypes),
				"scopes": jsonList(SupportedScopes), "public": false, "updated_at": now})
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error
			}
		}
		done = true
		return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: action,
			ObjectType: "idp_client", ObjectID: PortalClientID, Details: details})
	})
	return done, err
}

// RemovePortalURIs takes uris off the portal client's redirect and post-logout URIs
// (an address the portal is no longer reached at). It returns ErrUnknownClient if the
// portal client is not registered.
func (p *Provider) RemovePortalURIs(ctx context.Context, uris []string) error {
	for try := range 100 {
		if try > 0 {
			time.Sleep(time.Duration(try) * time.Millisecond)
		}
		row, err := p.client(ctx, PortalClientID)
		if err != nil {
			return err
		}
		keep := func(list []string) []string {
			return slices.DeleteFunc(list, func(u string) bool { return slices.Contains(uris, u) })
		}
		redirects, logouts := keep(parseList(row.RedirectURIs)), keep(parseList(row.PostLogoutRedirectURIs))
		done := false
		err = store.WithTx(ctx, p.db, func(tx *gorm.DB) error {
			res := tx.Model(&clientRow{}).Where("id = ? AND redirect_uris = ? AND post_logout_redirect_uris = ?",
				PortalClientID, row.RedirectURIs, row.PostLogoutRedirectURIs).Updates(map[string]any{
				"redirect_uris": jsonList(redirects), "post_logout_redirect_uris": jsonList(logouts), "updated_at": p.now().UTC()})
			if res.Error != nil || res.RowsAffected != 1 {
				return res.Error
			}
			done = true
			return audit.Record(ctx, tx, audit.Entry{ActorKind: audit.ActorSystem, Action: "idp.client_update",
				ObjectType: "idp_client", ObjectID: PortalClientID,
				Details: map[string]any{"redirect_uris": redirects, "post_logout_redirect_uris": logouts}})
		})
		if err != nil || done {
			return err
		}
	}
	return errors.New("idp: update portal client: too many concurrent changes")
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
