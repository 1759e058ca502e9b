// Package cluster shares the reading of a set of Twitch channels among
// instances of the service, through NATS JetStream key-value buckets: each
// channel is read by Replicas instances at once, so that a crash, a node
// drain or a rolling deploy leaves no hole in the record (Twitch never
// replays chat), and the stream's duplicate window keeps one copy of what
// the replicas publish twice.
//
// # Buckets
//
// Four buckets, named after Options.Name:
//
//	<name>_channels   the wanted set: a key per channel login. TWITCH_CHANNELS
//	                  seeds it (a channel removed through the admin API keeps
//	                  its delete marker and is not seeded again); the admin
//	                  API writes it; every instance watches it.
//	<name>_members    a key per live instance, written every third of the
//	                  lease TTL; the bucket's TTL removes a key a lease TTL
//	                  after its last write and puts an expiry marker that
//	                  the watchers see (nats-server 2.11 or later).
//	<name>_confirmed  key channel.instance while that instance has the
//	                  channel joined (JOIN echo or ROOMSTATE), with the
//	                  instance's lease epoch.
//	<name>_joins      the JOIN budget of the account the instances log in as.
//
// # Assignment
//
// The owners of a channel are the Replicas members of highest rendezvous
// weight among the members that are not leaving (Owners). Every instance
// computes the same owners from the same watched state; there is no leader
// and nothing is negotiated. A member joining or leaving moves about 1/N
// of the owner places, each channel losing or gaining one owner at most.
//
// # Handover
//
// An instance hands the channels it owns to its reader and writes a
// confirmation once the reader has joined one. A channel it no longer owns
// (another member joined, it is leaving) is parted only when every one of
// its owners has confirmed it: make-before-break, so a channel read by one
// instance is read by one at every moment of a rolling deploy. Leave marks
// the member key as leaving (it then owns nothing), waits for those
// confirmations within its deadline, and removes its key and
// confirmations; the service then stops reading and drains.
//
// A crashed instance's key expires a lease TTL after its last heartbeat
// and the others take its channels over: with two replicas every channel
// still has a reader meanwhile; with one, its channels have a gap of about
// the lease TTL plus the time to join, counted in Stats.
//
// An instance cut off from NATS cannot renew its lease: after the lease
// TTL it stops counting itself a member (it joins nothing new) but keeps
// reading what it reads. It cannot tell whether the others have taken its
// channels over, and when all of NATS is down nobody has: parting would
// turn a coordination outage into a gap, while reading on costs copies the
// stream (or the subscriber) removes. Its confirmations could not be
// updated while it was cut off; so when it holds a lease again it does so
// under a new epoch, confirmations made under an older epoch count for
// nothing, for every instance, and it parts what it no longer owns once the
// owners have confirmed it.
//
// # The JOIN budget
//
// Twitch allows an account 20 JOINs per 10 s, however many processes log
// in as it. Budget keeps the times of the account's latest JOINs in one key
// and takes from it with compare-and-set, so that the instances together
// stay within the limit whatever the membership does; see Budget for the
// argument and its margin. The reader takes every JOIN it sends from
// Coordinator.TakeJoins (Options.GatedReader; the twitch package's
// Options.JoinGate), its JOINs again after a reconnect included, which the
// coordinator never sees; a reader that does not is given channels only as
// the coordinator takes their JOINs from the budget, which bounds the first
// JOINs only. Anonymous logins are each their own identity and keep the
// reader's own limit.
package cluster
