// Package promcheck checks deploy/prometheus against a real Prometheus, in
// its tests: the service reads chat from the fake Twitch server under load
// (with a restart of that server midway), Prometheus scrapes it every
// second with alerts.yaml loaded, and every dashboard query and every alert
// expression must return data through the HTTP API. promtool checks and
// unit-tests the rules themselves (scripts/test.sh).
package promcheck
