package firestoreauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ingress-egress/ingress-egress/twitch"
)

// Errors about the token document. They are wrapped with the document's
// path; test with errors.Is.
var (
	// ErrDocumentNotFound: the lookup found no token document.
	ErrDocumentNotFound = errors.New("firestoreauth: token document not found")
	// ErrMalformedDocument: a field of the contract is missing or of the
	// wrong type.
	ErrMalformedDocument = errors.New("firestoreauth: malformed token document")
	// ErrAmbiguous: a field query matched more than one document.
	ErrAmbiguous = errors.New("firestoreauth: more than one token document matches")
)

// The field names of the document contract.
const (
	FieldUserID       = "userId"
	FieldLogin        = "login"
	FieldAccessToken  = "accessToken"
	FieldRefreshToken = "refreshToken"
	FieldExpiresAt    = "expiresAt"
	FieldScopes       = "scopes"
)

// Lookup locates the token document. login is Options.Login (may be empty).
// It is called for every read of the document, so a query sees documents
// that oauth-flow moves or recreates.
type Lookup func(ctx context.Context, db *firestore.Client, login string) (*firestore.DocumentRef, error)

// DocPath returns a Lookup for a document path template such as
// "twitch_tokens/{login}": "{login}" is replaced by the login. The path must
// name a document (an even number of segments).
func DocPath(template string) Lookup {
	return func(ctx context.Context, db *firestore.Client, login string) (*firestore.DocumentRef, error) {
		p := template
		if strings.Contains(p, "{login}") {
			if login == "" {
				return nil, fmt.Errorf("firestoreauth: document path %q needs a login", template)
			}
			if strings.ContainsAny(login, "/.") {
				return nil, fmt.Errorf("firestoreauth: login %q cannot be part of a document path", login)
			}
			p = strings.ReplaceAll(p, "{login}", login)
		}
		p = strings.Trim(p, "/")
		if n := len(strings.Split(p, "/")); p == "" || n%2 != 0 {
			return nil, fmt.Errorf("firestoreauth: %q is not a document path (collection/document[/collection/document…])", p)
		}
		ref := db.Doc(p)
		if ref == nil {
			return nil, fmt.Errorf("firestoreauth: %q is not a document path", p)
		}
		return ref, nil
	}
}

// FieldQuery returns a Lookup that finds the one document of collection
// whose field equals value (e.g. field "login" or "userId"). An empty value
// means the login. No match gives ErrDocumentNotFound, more than one
// ErrAmbiguous.
func FieldQuery(collection, field, value string) Lookup {
	return func(ctx context.Context, db *firestore.Client, login string) (*firestore.DocumentRef, error) {
		v := value
		if v == "" {
			v = login
		}
		if v == "" {
			return nil, fmt.Errorf("firestoreauth: query %s where %s == ?: no value and no login", collection, field)
		}
		it := db.Collection(collection).Where(field, "==", v).Limit(2).Documents(ctx)
		defer it.Stop()
		var refs []*firestore.DocumentRef
		for {
			snap, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("firestoreauth: query %s where %s == %q: %w", collection, field, v, err)
			}
			refs = append(refs, snap.Ref)
		}
		switch len(refs) {
		case 0:
			return nil, fmt.Errorf("%w: no document in %s where %s == %q", ErrDocumentNotFound, collection, field, v)
		case 1:
			return refs[0], nil
		default:
			return nil, fmt.Errorf("%w: %s where %s == %q", ErrAmbiguous, collection, field, v)
		}
	}
}

// record is one version of the token document.
type record struct {
	path         string // relative document path, e.g. twitch_tokens/mybot
	login        string
	userID       string
	access       twitch.Token
	refresh      twitch.Token
	expiresAt    time.Time // zero: unknown
	expiresAsStr bool      // expiresAt was an RFC 3339 string: write it back as one
	scopes       []string
	updateTime   time.Time
}

// sameTokens reports whether a and b hold the same access and refresh
// tokens.
func sameTokens(a, b record) bool {
	return a.access.Reveal() == b.access.Reveal() && a.refresh.Reveal() == b.refresh.Reveal()
}

// store reads and writes the token document; the Firestore implementation is
// fsStore, tests use an in-memory one.
type store interface {
	// load reads the document.
	load(ctx context.Context) (record, error)
	// commit writes fresh in a transaction that first re-reads the
	// document: when its tokens are no longer base's (another writer was
	// faster), it writes nothing and returns what it read.
	commit(ctx context.Context, base, fresh record) (record, error)
}

type fsStore struct {
	db     *firestore.Client
	lookup Lookup
	login  string
	// inTx, when set (tests), runs inside the write-back transaction after
	// the re-read, with the attempt number (1, 2, …).
	inTx func(attempt int)
}

func (s *fsStore) load(ctx context.Context) (record, error) {
	ref, err := s.lookup(ctx, s.db, s.login)
	if err != nil {
		return record{}, err
	}
	snap, err := ref.Get(ctx)
	return decodeSnap(ref, snap, err)
}

func (s *fsStore) commit(ctx context.Context, base, fresh record) (record, error) {
	ref := s.db.Doc(base.path)
	if ref == nil {
		return record{}, fmt.Errorf("firestoreauth: bad document path %q", base.path)
	}
	var out record
	attempt := 0
	err := s.db.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		attempt++
		snap, err := tx.Get(ref)
		cur, err := decodeSnap(ref, snap, err)
		if err != nil {
			return err
		}
		if s.inTx != nil {
			s.inTx(attempt)
		}
		if !sameTokens(cur, base) {
			out = cur // someone else stored a newer token: keep it
			return nil
		}
		var exp any = fresh.expiresAt
		switch {
		case fresh.expiresAt.IsZero():
			exp = nil
		case cur.expiresAsStr:
			exp = fresh.expiresAt.UTC().Format(time.RFC3339)
		}
		ups := []firestore.Update{
			{Path: FieldAccessToken, Value: fresh.access.Reveal()},
			{Path: FieldRefreshToken, Value: fresh.refresh.Reveal()},
			{Path: FieldExpiresAt, Value: exp},
		}
		if fresh.scopes != nil {
			ups = append(ups, firestore.Update{Path: FieldScopes, Value: fresh.scopes})
		}
		if cur.userID == "" && fresh.userID != "" {
			ups = append(ups, firestore.Update{Path: FieldUserID, Value: fresh.userID})
		}
		out = fresh
		out.expiresAsStr = cur.expiresAsStr
		return tx.Update(ref, ups)
	}, firestore.MaxAttempts(5))
	if err != nil {
		return record{}, fmt.Errorf("firestoreauth: write back to %s: %w", base.path, err)
	}
	return out, nil
}

// relPath returns the document path relative to the database.
func relPath(ref *firestore.DocumentRef) string {
	if _, after, ok := strings.Cut(ref.Path, "/documents/"); ok {
		return after
	}
	return ref.Path
}

func decodeSnap(ref *firestore.DocumentRef, snap *firestore.DocumentSnapshot, err error) (record, error) {
	path := relPath(ref)
	if status.Code(err) == codes.NotFound || (err == nil && (snap == nil || !snap.Exists())) {
		return record{}, fmt.Errorf("%w: %s", ErrDocumentNotFound, path)
	}
	if err != nil {
		return record{}, fmt.Errorf("firestoreauth: read %s: %w", path, err)
	}
	r, err := decode(path, snap.Data())
	r.updateTime = snap.UpdateTime
	return r, err
}

// decode checks data against the document contract. Errors name the field
// and the type found, never a value.
func decode(path string, data map[string]any) (record, error) {
	r := record{path: path}
	bad := func(field, why string) (record, error) {
		return record{}, fmt.Errorf("%w %s: field %q %s", ErrMalformedDocument, path, field, why)
	}
	str := func(field string, required bool) (string, bool) {
		v, ok := data[field]
		if !ok || v == nil {
			return "", !required
		}
		s, ok := v.(string)
		return s, ok && (s != "" || !required)
	}
	var ok bool
	if r.login, ok = str(FieldLogin, true); !ok {
		return bad(FieldLogin, want(data[FieldLogin], "a non-empty string"))
	}
	r.login = strings.ToLower(r.login)
	switch v := data[FieldUserID].(type) {
	case nil:
	case string:
		r.userID = v
	case int64:
		r.userID = strconv.FormatInt(v, 10)
	default:
		return bad(FieldUserID, want(v, "a string"))
	}
	var s string
	if s, ok = str(FieldAccessToken, true); !ok {
		return bad(FieldAccessToken, want(data[FieldAccessToken], "a non-empty string"))
	}
	r.access = twitch.NewToken(s)
	if s, ok = str(FieldRefreshToken, true); !ok {
		return bad(FieldRefreshToken, want(data[FieldRefreshToken], "a non-empty string"))
	}
	r.refresh = twitch.NewToken(s)
	switch v := data[FieldExpiresAt].(type) {
	case nil:
	case time.Time:
		r.expiresAt = v
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return bad(FieldExpiresAt, "is a string but not RFC 3339 (like 2025-01-02T15:04:05Z)")
		}
		r.expiresAt, r.expiresAsStr = t, true
	default:
		return bad(FieldExpiresAt, want(v, "a timestamp or an RFC 3339 string"))
	}
	switch v := data[FieldScopes].(type) {
	case nil:
	case []any:
		for _, e := range v {
			sc, ok := e.(string)
			if !ok {
				return bad(FieldScopes, "has an element of type "+typeName(e)+", want strings")
			}
			r.scopes = append(r.scopes, sc)
		}
	default:
		return bad(FieldScopes, want(v, "an array of strings"))
	}
	if r.scopes == nil && data[FieldScopes] != nil {
		r.scopes = []string{}
	}
	return r, nil
}

func want(v any, w string) string {
	if v == nil {
		return "is missing, want " + w
	}
	return "is " + typeName(v) + ", want " + w
}

// typeName names a Firestore value type without printing the value.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case time.Time:
		return "a timestamp"
	case []any:
		return "an array"
	case map[string]any:
		return "a map"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func cloneRecord(r record) record {
	r.scopes = slices.Clone(r.scopes)
	return r
}
