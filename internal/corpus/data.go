package corpus

// The vocabulary the generator draws from. Everything here is synthetic: no
// line, name or id was recorded from real chat.

// language is one pool of chat words. glue marks scripts whose words are often
// written without spaces (CJK, Thai); emotes are always space separated, as
// Twitch only recognises an emote as a whole word.
type language struct {
	weight int
	glue   bool
	words  []string
}

var languages = []language{
	{weight: 520, words: []string{
		"lol", "lmao", "gg", "wp", "that", "was", "insane", "bro", "chat", "is", "this", "real",
		"no", "way", "he", "actually", "did", "it", "again", "what", "the", "hell", "clip", "W", "L",
		"streamer", "lets", "go", "holy", "i", "can't", "believe", "wait", "for", "mods", "ban",
		"him", "true", "fr", "based", "nice", "play", "how", "did", "you", "miss", "shot", "first",
		"time", "here", "hello", "everyone", "love", "from", "when", "next", "stream", "song",
		"name?", "ranked", "bruh", "ez", "clutch", "absolutely", "cooked", "we", "are", "so",
		"back", "chatting", "ok", "but", "why", "would", "do", "that??", "LETS", "GOOO", "monka",
		"hype", "train", "sub", "gifted", "thanks", "for", "the", "raid", "o7", "yo", "sup",
		"anyone", "know", "build", "settings", "sens?", "keyboard", "1v5", "diff", "skill",
		"issue", "yep", "nope", "maybe", "tomorrow", "tonight", "6am", "grind", "boss", "fight",
		"phase", "two", "ulted", "throwing", "griefing", "patch", "nerf", "buff", "meta", "tier",
		"list", "true!", "KEKW", "widepeepoHappy", "catJAM", "Sadge", "OMEGALUL", "peepoClap",
	}},
	{weight: 70, words: []string{
		"alter", "was", "geht", "ab", "digga", "hallo", "zusammen", "wie", "geht's", "richtig",
		"gut", "gespielt", "nein", "doch", "ohh", "schön", "dass", "du", "wieder", "da", "bist",
		"grüße", "aus", "München", "übel", "stark", "ich", "lache", "Spaß", "heute", "Abend",
		"größter", "Moment", "Straße", "können", "müssen", "jetzt", "läuft",
	}},
	{weight: 70, words: []string{
		"hola", "que", "tal", "jajaja", "kkkkkk", "mano", "isso", "buenas", "noches", "saludos",
		"desde", "México", "vamos", "muito", "bom", "está", "increíble", "não", "acredito",
		"qué", "pasó", "señor", "você", "é", "demais", "coração", "ñ", "olé", "São", "Paulo",
	}},
	{weight: 60, words: []string{
		"привет", "всем", "как", "дела", "это", "было", "жестко", "ахахах", "ну", "и", "игра",
		"красава", "лол", "чат", "стример", "спасибо", "за", "стрим", "ёлки", "палки", "щас",
		"будет", "имба", "катка", "топ",
	}},
	{weight: 60, glue: true, words: []string{
		"こんにちは", "草", "www", "すごい", "やばい", "おつかれ", "ナイス", "かわいい", "初見です",
		"配信", "ありがとう", "がんばって", "きた", "うまい", "ｗｗｗ", "神", "おはよう", "ボス",
	}},
	{weight: 50, glue: true, words: []string{
		"안녕하세요", "ㅋㅋㅋㅋ", "대박", "진짜", "잘한다", "방송", "감사합니다", "오늘도", "화이팅",
		"ㅎㅎ", "미쳤다", "와", "레전드",
	}},
	{weight: 40, glue: true, words: []string{
		"哈哈哈", "主播", "好厉害", "加油", "来了", "这个", "太强了", "晚上好", "笑死", "牛逼", "真的",
		"𠜎𠜱", "好耶",
	}},
	{weight: 30, glue: true, words: []string{
		"สวัสดีครับ", "555", "เก่งมาก", "สู้ๆ", "ขอบคุณครับ", "มันส์มาก",
	}},
	{weight: 20, words: []string{
		"مرحبا", "يا", "شباب", "ههههه", "رائع", "والله", "تمام", "שלום", "חברים",
	}},
	{weight: 30, words: []string{
		"Zalgo", "ẗ̤h̬i̦s̤", "ｆｕｌｌｗｉｄｔｈ", "𝓯𝓪𝓷𝓬𝔂", "ᕕ(ᐛ)ᕗ", "(╯°□°)╯︵", "┻━┻", "¯\\_(ツ)_/¯",
		"ʕ•ᴥ•ʔ", "€5", "£", "naïve", "café", "Ωmega", "π", "°C", "≥", "…", "—", "‼",
	}},
}

// emoji includes sequences of several code points (skin tone modifiers, VS16,
// ZWJ families, flags): an emote that follows one of them starts at a code
// point offset that differs from its byte offset and its UTF-16 offset.
var emoji = []string{
	"😂", "🔥", "❤️", "💀", "👍🏽", "😭", "🙏", "👀", "🤣", "😳", "🎉", "👨‍👩‍👧", "🏳️‍🌈", "✨",
	"🥶", "🇩🇪", "🇧🇷", "🫡", "😎", "🤔", "💯", "😂😂😂", "🐐", "☕", "⚽",
}

type emote struct{ id, name string }

// globalEmotes are Twitch's global emotes (id, code).
var globalEmotes = []emote{
	{"25", "Kappa"}, {"1902", "Keepo"}, {"425618", "LUL"}, {"305954156", "PogChamp"},
	{"86", "BibleThump"}, {"245", "ResidentSleeper"}, {"354", "4Head"}, {"41", "Kreygasm"},
	{"64138", "SeemsGood"}, {"58765", "NotLikeThis"}, {"30259", "HeyGuys"}, {"81274", "VoHiYo"},
	{"123171", "CoolStoryBob"}, {"196892", "TwitchUnity"}, {"33", "DansGame"}, {"34", "SwiftRage"},
	{"36", "PJSalt"}, {"28087", "WutFace"}, {"58127", "CoolCat"}, {"9", "<3"}, {"1", ":)"},
	{"3", ":D"}, {"160400", "KonCha"}, {"1035663", "BatChest"},
}

// channelEmoteSuffixes are appended to a channel's emote prefix ("abcL").
var channelEmoteSuffixes = []string{"L", "Hype", "Pog", "Sad", "LUL", "Wave", "Love", "Rage", "GG", "Clap"}

// channels is the pool Generate draws from, hot channels first.
var channels = []string{
	"xqc", "kaicenat", "ibai", "zackrawrr", "pokimane", "shroud", "tarik", "hasanabi",
	"summit1g", "caseoh_", "jynxzi", "papaplatte", "gaules", "auronplay", "fps_shaka",
	"ninja", "lirik", "sodapoppin", "k3soju", "vedal987", "trymacs", "rubius", "zerator", "ohnepixel",
}

var colors = []string{
	"#FF0000", "#0000FF", "#008000", "#B22222", "#FF7F50", "#9ACD32", "#FF4500", "#2E8B57",
	"#DAA520", "#D2691E", "#5F9EA0", "#1E90FF", "#FF69B4", "#8A2BE2", "#00FF7F",
}

// cjkNames are display names whose login differs from them entirely.
var cjkNames = []string{
	"小明同学", "ゆうき", "김민수", "たなか", "老王", "사쿠라", "ねこ大好き", "阿杰", "하늘", "ユウタ", "星野", "千夜",
}

var loginSyllables = []string{
	"ka", "ze", "ro", "mi", "to", "shi", "dan", "nex", "vo", "lu", "pex", "gar", "fin", "qu",
	"ty", "bo", "rax", "el", "mo", "sly", "dra", "ko", "wen", "jay", "ix", "ark", "tom", "sun",
}

var otherBadges = []string{
	"premium/1", "bits/100", "bits/1000", "bits/5000", "sub-gifter/5", "sub-gifter/50",
	"glhf-pledge/1", "no_audio/1", "partner/1", "glitchcon2020/1", "twitch-recap-2024/1",
	"hype-train/2", "artist-badge/1", "clip-champ/1",
}

var predictionOutcomes = []struct{ badge, info string }{
	{"predictions/blue-1", "Blue\\sTeam"},
	{"predictions/pink-2", "Pink\\sTeam"},
	{"predictions/blue-1", "Yes"},
	{"predictions/pink-2", "No"},
	{"predictions/gray-1", "⚫️\\sBLACK"},
	{"predictions/blue-2", "Win\\sin\\s3"},
}

var cheerPrefixes = []string{"Cheer", "cheer", "Kappa", "PogChamp", "BibleThump", "Corgo", "Party"}
var cheerAmounts = []int{1, 1, 5, 10, 50, 100, 100, 500, 1000, 5000}

// replyBodies are parent message bodies chosen for their escaping: spaces,
// semicolons, backslashes (`¯\_(ツ)_/¯` gives `\\`, a literal `\s` gives
// `\\s`), a trailing space and an `=`.
var replyBodies = []string{
	"¯\\_(ツ)_/¯",
	"type \\s in the regex",
	"C:\\saves\\slot1 is where it lives",
	"first; second; third",
	"foo=bar",
	"trailing space ",
	"a\\",
	"@somebody did you see that?",
}

var subPlans = []struct{ plan, tier string }{
	{"Prime", "Prime"}, {"1000", "Tier 1"}, {"1000", "Tier 1"}, {"1000", "Tier 1"},
	{"2000", "Tier 2"}, {"3000", "Tier 3"},
}

var announceColors = []string{"PRIMARY", "BLUE", "GREEN", "ORANGE", "PURPLE"}
