// Package cluster shares the reading of a set of Twitch channels among instances.
package cluster
