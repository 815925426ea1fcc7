package redisstore

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The scripts are Lua files so that they read as code and diff cleanly; common.lua (and
// holds.lua for the quota scripts) is prepended to each because Redis scripts cannot
// include one another.
var (
	//go:embed lua/common.lua
	commonLua string
	//go:embed lua/holds.lua
	holdsLua string
	//go:embed lua/reserve.lua
	reserveLua string
	//go:embed lua/settle.lua
	settleLua string
	//go:embed lua/renew.lua
	renewLua string
	//go:embed lua/status.lua
	statusLua string
	//go:embed lua/lock.lua
	lockLua string
	//go:embed lua/load.lua
	loadLua string

	reserveScript = redis.NewScript(commonLua + holdsLua + reserveLua)
	settleScript  = redis.NewScript(commonLua + holdsLua + settleLua)
	renewScript   = redis.NewScript(commonLua + holdsLua + renewLua)
	statusScript  = redis.NewScript(commonLua + holdsLua + statusLua)
	lockScript    = redis.NewScript(lockLua)
	loadScript    = redis.NewScript(commonLua + holdsLua + loadLua)

	allScripts = []*redis.Script{reserveScript, settleScript, renewScript, statusScript}
)
