package corpus

import "time"

var zeroTime time.Time
