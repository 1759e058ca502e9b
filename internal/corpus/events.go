package corpus

import "strconv"

// The lines other than PRIVMSG. Their tag sets follow Twitch's (keys in
// alphabetical order, as Twitch sends them); system-msg is escaped.

func (g *Generator) appendUserNotice(dst []byte, c *chanInfo, sentNS int64) []byte {
	r := &g.r
	u := g.pickUser(c)
	ts := g.tick(sentNS)
	plan := subPlans[r.intn(len(subPlans))]
	name := u.mention
	g.text, g.occ = g.text[:0], g.occ[:0]
	g.tmp = g.tmp[:0] // system-msg, unescaped
	withText := false
	months := 0

	var msgID string
	switch x := r.intn(1000); {
	case x < 250:
		msgID, months = "sub", 1
	case x < 650:
		msgID, months = "resub", max(u.months, 2)
		withText = r.pm(600)
	case x < 850:
		msgID = "subgift"
	case x < 890:
		msgID = "submysterygift"
	case x < 960:
		msgID = "raid"
	default:
		msgID, withText = "announcement", true
	}
	if withText {
		g.appendText(c, 0, false)
	}

	dst = append(dst, '@')
	dst = appendBadges(dst, "", u, months, -1)
	dst = append(dst, "color="...)
	dst = append(dst, u.color...)
	dst = append(dst, ";display-name="...)
	dst = append(dst, u.display...)
	dst = append(dst, ";emotes="...)
	dst = g.appendEmotes(dst)
	dst = append(dst, ";flags=;id="...)
	dst = append(dst, g.newID()...)
	g.hasID = true
	dst = append(dst, ";login="...)
	dst = append(dst, u.login...)
	dst = append(dst, ";mod="...)
	dst = append(dst, bit(u.role == 1))
	dst = append(dst, ";msg-id="...)
	dst = append(dst, msgID...)
	param := func(key string) {
		dst = append(dst, ";msg-param-"...)
		dst = append(dst, key...)
		dst = append(dst, '=')
	}
	planName := func() {
		param("sub-plan-name")
		dst = append(dst, `Channel\sSubscription\s(`...)
		dst = append(dst, c.name...)
		dst = append(dst, ')')
	}
	switch msgID {
	case "sub", "resub":
		streak := 0
		if msgID == "resub" && r.pm(500) {
			streak = r.between(1, months)
		}
		param("cumulative-months")
		dst = appendInt(dst, months)
		param("months")
		dst = append(dst, '0')
		param("multimonth-duration")
		dst = append(dst, '1')
		param("multimonth-tenure")
		dst = append(dst, '0')
		param("should-share-streak")
		dst = append(dst, bit(streak > 0))
		if streak > 0 {
			param("streak-months")
			dst = appendInt(dst, streak)
		}
		planName()
		param("sub-plan")
		dst = append(dst, plan.plan...)
		param("was-gifted")
		dst = append(dst, "false"...)
		g.tmp = append(g.tmp, name...)
		if plan.plan == "Prime" {
			g.tmp = append(g.tmp, " subscribed with Prime."...)
		} else {
			g.tmp = append(g.tmp, " subscribed at "...)
			g.tmp = append(g.tmp, plan.tier...)
			g.tmp = append(g.tmp, '.')
		}
		if msgID == "resub" {
			g.tmp = append(g.tmp, " They've subscribed for "...)
			g.tmp = appendInt(g.tmp, months)
			g.tmp = append(g.tmp, " months"...)
			if streak > 0 {
				g.tmp = append(g.tmp, ", currently on a "...)
				g.tmp = appendInt(g.tmp, streak)
				g.tmp = append(g.tmp, " month streak"...)
			}
			g.tmp = append(g.tmp, '!')
		}
	case "subgift", "submysterygift":
		if plan.plan == "Prime" {
			plan = subPlans[1]
		}
		count := r.between(1, 400)
		mass := pick(r, []int{1, 5, 5, 10, 20, 50, 100})
		param("community-gift-id")
		dst = strconv.AppendUint(dst, r.next()>>1, 10)
		if msgID == "subgift" {
			rcpt := &g.users[r.intn(len(g.users))]
			param("gift-months")
			dst = append(dst, '1')
			param("months")
			dst = appendInt(dst, r.between(1, 30))
			param("origin-id")
			dst = appendHex(dst, r.next(), r.next())
			param("recipient-display-name")
			dst = append(dst, rcpt.display...)
			param("recipient-id")
			dst = append(dst, rcpt.id...)
			param("recipient-user-name")
			dst = append(dst, rcpt.login...)
			param("sender-count")
			dst = appendInt(dst, count)
			planName()
			param("sub-plan")
			dst = append(dst, plan.plan...)
			g.tmp = append(g.tmp, name...)
			g.tmp = append(g.tmp, " gifted a "...)
			g.tmp = append(g.tmp, plan.tier...)
			g.tmp = append(g.tmp, " sub to "...)
			g.tmp = append(g.tmp, rcpt.mention...)
			g.tmp = append(g.tmp, "! They have given "...)
			g.tmp = appendInt(g.tmp, count)
			g.tmp = append(g.tmp, " Gift Subs in the channel!"...)
		} else {
			param("mass-gift-count")
			dst = appendInt(dst, mass)
			param("origin-id")
			dst = appendHex(dst, r.next(), r.next())
			param("sender-count")
			dst = appendInt(dst, count)
			param("sub-plan")
			dst = append(dst, plan.plan...)
			g.tmp = append(g.tmp, name...)
			g.tmp = append(g.tmp, " is gifting "...)
			g.tmp = appendInt(g.tmp, mass)
			g.tmp = append(g.tmp, ' ')
			g.tmp = append(g.tmp, plan.tier...)
			g.tmp = append(g.tmp, " Subs to "...)
			g.tmp = append(g.tmp, c.name...)
			g.tmp = append(g.tmp, "'s community! They've gifted a total of "...)
			g.tmp = appendInt(g.tmp, count)
			g.tmp = append(g.tmp, " in the channel!"...)
		}
	case "raid":
		viewers := r.between(1, 40000)
		param("displayName")
		dst = append(dst, u.display...)
		param("login")
		dst = append(dst, u.login...)
		param("profileImageURL")
		dst = append(dst, "https://static-cdn.jtvnw.net/jtv_user_pictures/"...)
		dst = appendHex(dst, r.next(), r.next())
		dst = append(dst, "-profile_image-%s.png"...)
		param("viewerCount")
		dst = appendInt(dst, viewers)
		g.tmp = appendInt(g.tmp, viewers)
		g.tmp = append(g.tmp, " raiders from "...)
		g.tmp = append(g.tmp, name...)
		g.tmp = append(g.tmp, " have joined!"...)
	case "announcement":
		param("color")
		dst = append(dst, pick(r, announceColors)...)
	}
	dst = append(dst, ";room-id="...)
	dst = append(dst, c.room...)
	dst = append(dst, ";subscriber="...)
	dst = append(dst, bit(months > 0 || u.months > 0 || u.founder))
	dst = append(dst, ";system-msg="...)
	dst = appendEscaped(dst, g.tmp)
	dst = append(dst, ";tmi-sent-ts="...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, ";user-id="...)
	dst = append(dst, u.id...)
	dst = append(dst, ";user-type="...)
	if u.role == 1 {
		dst = append(dst, "mod"...)
	}
	dst = append(dst, ";vip="...)
	dst = append(dst, bit(u.role == 2))
	dst = appendSent(dst, sentNS)
	dst = append(dst, " :tmi.twitch.tv "...)
	dst = appendTarget(dst, "USERNOTICE", c)
	if withText {
		dst = append(dst, " :"...)
		dst = append(dst, g.text...)
	}
	return dst
}

func (g *Generator) appendClearChat(dst []byte, c *chanInfo, sentNS int64) []byte {
	r := &g.r
	u := g.pickUser(c)
	ts := g.tick(sentNS)
	x := r.intn(1000)
	dst = append(dst, '@')
	if x < 600 { // timeout
		dst = append(dst, "ban-duration="...)
		dst = appendInt(dst, pick(r, []int{1, 10, 30, 60, 300, 600, 600, 1800, 3600, 86400, 1209600}))
		dst = append(dst, ';')
	}
	dst = append(dst, "room-id="...)
	dst = append(dst, c.room...)
	if x < 900 {
		dst = append(dst, ";target-user-id="...)
		dst = append(dst, u.id...)
	}
	dst = append(dst, ";tmi-sent-ts="...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = appendSent(dst, sentNS)
	dst = append(dst, " :tmi.twitch.tv "...)
	dst = appendTarget(dst, "CLEARCHAT", c)
	if x < 900 {
		dst = append(dst, " :"...)
		dst = append(dst, u.login...)
	}
	return dst
}

func (g *Generator) appendClearMsg(dst []byte, c *chanInfo, sentNS int64) []byte {
	r := &g.r
	u := g.pickUser(c)
	ts := g.tick(sentNS)
	target := g.recentID()
	dst = append(dst, "@login="...)
	dst = append(dst, u.login...)
	dst = append(dst, ";room-id="...)
	if r.pm(500) { // Twitch often leaves it empty
		dst = append(dst, c.room...)
	}
	dst = append(dst, ";target-msg-id="...)
	dst = append(dst, target[:]...)
	dst = append(dst, ";tmi-sent-ts="...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = appendSent(dst, sentNS)
	dst = append(dst, " :tmi.twitch.tv "...)
	dst = appendTarget(dst, "CLEARMSG", c)
	dst = append(dst, " :"...)
	return g.appendShortText(dst)
}

func (g *Generator) appendRoomState(dst []byte, c *chanInfo) []byte {
	r := &g.r
	dst = append(dst, '@')
	if r.pm(400) { // the full state, sent on JOIN
		dst = append(dst, "emote-only=0;followers-only="...)
		dst = append(dst, pick(r, []string{"-1", "-1", "0", "10", "1440"})...)
		dst = append(dst, ";r9k=0;room-id="...)
		dst = append(dst, c.room...)
		dst = append(dst, ";slow="...)
		dst = append(dst, pick(r, []string{"0", "0", "3", "30"})...)
		dst = append(dst, ";subs-only=0"...)
	} else { // one setting changed
		switch x := r.intn(5); x {
		case 0, 1, 2:
			dst = append(dst, pick(r, []string{"emote-only=1;", "emote-only=0;", "followers-only=10;", "followers-only=-1;", "r9k=1;", "r9k=0;"})...)
			dst = append(dst, "room-id="...)
			dst = append(dst, c.room...)
		default:
			dst = append(dst, "room-id="...)
			dst = append(dst, c.room...)
			dst = append(dst, pick(r, []string{";slow=30", ";slow=0", ";subs-only=1", ";subs-only=0"})...)
		}
	}
	dst = append(dst, " :tmi.twitch.tv "...)
	return appendTarget(dst, "ROOMSTATE", c)
}

func (g *Generator) appendUserState(dst []byte, c *chanInfo) []byte {
	r := &g.r
	dst = append(dst, "@badge-info=;badges=moderator/1;color=#FF4500;display-name=IngressBot;emote-sets=0,19194,300374282,300548756,"...)
	dst = appendHex(dst, r.next(), r.next())
	if r.pm(500) { // the echo of a message we sent
		dst = append(dst, ";id="...)
		dst = append(dst, g.newID()...)
		g.hasID = true
	}
	dst = append(dst, ";mod=1;subscriber=0;user-type=mod :tmi.twitch.tv "...)
	return appendTarget(dst, "USERSTATE", c)
}

// appendHex appends a and b as 32 lower-case hex digits.
func appendHex(dst []byte, a, b uint64) []byte {
	var h [32]byte
	hexTo(h[:16], a)
	hexTo(h[16:], b)
	return append(dst, h[:]...)
}
