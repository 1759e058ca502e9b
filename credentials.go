package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ingress-egress/ingress-egress/twitch"
	"github.com/ingress-egress/ingress-egress/twitch/firestoreauth"
)

// credentials is what the service needs of a credentials source: chat
// logins for the connection manager, readiness and a status, and its
// lifetime: Run keeps the credentials fresh until its context ends, Close
// releases its clients.
type credentials interface {
	twitch.AuthSource
	Ready() bool
	Status() twitch.AuthStatus
	Run(ctx context.Context) error
	Close() error
}

// Every credentials mode satisfies it.
var (
	_ credentials = (*firestoreauth.Source)(nil)
	_ credentials = (*twitch.Static)(nil)
	_ credentials = (*twitch.Anonymous)(nil)
)

// newCredentials picks the credentials mode: Firestore when a token
// document or collection is configured, static with TWITCH_OAUTH_TOKEN,
// else anonymous.
func newCredentials(ctx context.Context, c *config, log *slog.Logger) (credentials, error) {
	oauth := &twitch.OAuthClient{BaseURL: c.oauthURL, ClientID: c.clientID, ClientSecret: twitch.NewToken(c.clientSecret)}
	login := strings.ToLower(c.botUsername)
	switch {
	case c.tokenDoc != "" || c.tokenCollection != "":
		lookup := firestoreauth.DocPath(c.tokenDoc)
		if c.tokenCollection != "" {
			lookup = firestoreauth.FieldQuery(c.tokenCollection, c.tokenField, login)
		}
		src, err := firestoreauth.New(ctx, firestoreauth.Options{
			Project:  c.firestoreProject,
			Database: c.firestoreDB,
			Lookup:   lookup,
			Login:    login,
			OAuth:    oauth,
			Logger:   log,
		})
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		return src, nil
	case c.oauthToken != "":
		src, err := twitch.NewStatic(twitch.StaticOptions{Token: twitch.NewToken(c.oauthToken), Login: login, OAuth: oauth, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		return src, nil
	}
	return twitch.NewAnonymous(log), nil
}
