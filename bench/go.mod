module github.com/ingress-egress/ingress-egress/bench

go 1.26.0

require (
	github.com/ergochat/irc-go v0.5.0
	github.com/gempir/go-twitch-irc/v4 v4.2.0
	github.com/google/uuid v1.6.0
	github.com/ingress-egress/ingress-egress v0.0.0-00010101000000-000000000000
)

replace github.com/ingress-egress/ingress-egress => ../
