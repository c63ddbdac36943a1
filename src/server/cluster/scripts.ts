// The cluster's state in Redis, and the Lua scripts that change it. Each script runs
// atomically, so two nodes never interleave inside one change (an id, a name, a
// presence entry). Keys are computed inside the scripts: this targets one Redis (or a
// primary with replicas), not Redis Cluster's sharding.
//
//   chat:seq:<room>        last message id given in the room (INCR)
//   chat:log:<room>        stream of the room's messages, entry id "<id>-0", field m = frame JSON
//   chat:ref:<n>:<user><ref>  "room id" of a message a user sent with a ref (expires)
//   chat:session:<secret>  JSON of a resumable session (HistoryStore sessions)
//   chat:user:<userId>     hash: s = session, n = name, k = name key, i = its id as a name key
//                          (a token's subject: see CLAIM_OWN_NAME), @<node> per node it is on:
//                          1 with a connection there, 0 only held there (its grace period)
//   chat:direct:<userId>\n<ref>  a direct message the user sent with that ref (expires)
//   chat:names             hash: lower-cased name -> userId
//   chat:pres:<room>       hash: userId -> space-separated nodes where it is present
//   chat:urooms:<userId>   set of rooms where the user is present (for rename notices)
//   chat:nodes             set of live node ids
//   chat:node:<node>       heartbeat, expires when the node stops refreshing it
//   chat:node:<node>:rooms / :users   what to clean up when the node dies
//   channels: chat:room:<room> ("<id>|<except>|<frame>"), chat:bus (JSON events)

export const ROOM_CHANNEL_PREFIX = "chat:room:";
export const BUS_CHANNEL = "chat:bus";

// Shared Lua helpers: a node list is a space-separated string (a user is on a few nodes).
const NODE_LIST = `
local function has_node(list, node)
  return string.find(" " .. list .. " ", " " .. node .. " ", 1, true) ~= nil
end
local function without_node(list, node)
  local out = {}
  for n in string.gmatch(list, "%S+") do if n ~= node then out[#out + 1] = n end end
  return table.concat(out, " ")
end
`;

/**
 * ARGV: historyLimit, refTtlSeconds, then per message: room, userId, ref ("" for
 * none), the frame JSON after its id. Per message the answer is its new id, or
 * "room id" of the first copy when the user's ref was stored before.
 */
export const APPEND = `
local limit, ttl = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV, 4 do
  local room, user, ref, tail = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local ref_key = nil
  local prior = false
  if ref ~= "" then
    ref_key = "chat:ref:" .. #user .. ":" .. user .. ref
    prior = redis.call("GET", ref_key)
  end
  if prior then
    out[#out + 1] = prior
  else
    local seq_key, log_key = "chat:seq:" .. room, "chat:log:" .. room
    local id = redis.call("INCR", seq_key)
    local frame = '{"type":"message","id":' .. id .. tail
    local added = redis.pcall("XADD", log_key, "MAXLEN", limit, id .. "-0", "m", frame)
    if type(added) == "table" and added.err then
      -- The counter fell behind the stream (it was evicted or deleted): ids continue
      -- after the stream's newest entry, so none is ever reused.
      local newest = redis.call("XREVRANGE", log_key, "+", "-", "COUNT", 1)
      id = tonumber(string.match(newest[1][1], "^(%d+)")) + 1
      redis.call("SET", seq_key, id)
      frame = '{"type":"message","id":' .. id .. tail
      redis.call("XADD", log_key, "MAXLEN", limit, id .. "-0", "m", frame)
    end
    if ref_key then redis.call("SET", ref_key, room .. " " .. id, "EX", ttl) end
    redis.call("PUBLISH", "chat:room:" .. room, id .. "||" .. frame)
    out[#out + 1] = id
  end
end
return out
`;

/** ARGV: room, userId, node. 1 when the user was in the room on no node before. */
export const PRESENCE_JOIN = `${NODE_LIST}
local room, user, node = ARGV[1], ARGV[2], ARGV[3]
local key = "chat:pres:" .. room
local list = redis.call("HGET", key, user)
redis.call("SADD", "chat:node:" .. node .. ":rooms", room)
if not list then
  redis.call("HSET", key, user, node)
  redis.call("SADD", "chat:urooms:" .. user, room)
  return 1
end
if not has_node(list, node) then redis.call("HSET", key, user, list .. " " .. node) end
return 0
`;

/** ARGV: room, userId, node. 1 when the user is now in the room on no node. */
export const PRESENCE_LEAVE = `${NODE_LIST}
local room, user, node = ARGV[1], ARGV[2], ARGV[3]
local key = "chat:pres:" .. room
local list = redis.call("HGET", key, user)
if not list or not has_node(list, node) then return 0 end
local rest = without_node(list, node)
if rest ~= "" then
  redis.call("HSET", key, user, rest)
  return 0
end
redis.call("HDEL", key, user)
redis.call("SREM", "chat:urooms:" .. user, room)
return 1
`;

/** ARGV: room. The users present, as userId, name pairs. */
export const PRESENCE = `
local out = {}
for _, user in ipairs(redis.call("HKEYS", "chat:pres:" .. ARGV[1])) do
  out[#out + 1] = user
  out[#out + 1] = redis.call("HGET", "chat:user:" .. user, "n") or user
end
return out
`;

/**
 * ARGV: userId, session, node, and optionally 0 for a user only held there. Puts the
 * user on this node: a new user (named after its id), or the same user (same session)
 * already on other nodes. Answers its name, or nil when the id belongs to another user.
 */
export const USER_CLAIM = `
local user, session, node = ARGV[1], ARGV[2], ARGV[3]
local key = "chat:user:" .. user
local owner = redis.call("HGET", key, "s")
if owner and owner ~= session then return false end
if not owner then redis.call("HSET", key, "s", session, "n", user) end
redis.call("HSET", key, "@" .. node, ARGV[4] or 1)
redis.call("SADD", "chat:node:" .. node .. ":users", user)
-- On a node again: its session no longer expires (a reap may have set it to).
redis.call("PERSIST", "chat:session:" .. session)
return redis.call("HGET", key, "n")
`;

// Removes a user from a node; a user on no node left loses its name. ARGV[3] (ms):
// keep its session that long (a dead node's users may still resume elsewhere), or
// "0" to delete it. Shared by USER_RELEASE and REAP.
const RELEASE_USER = `
local function release_user(user, node, keep_session_ms)
  local key = "chat:user:" .. user
  redis.call("HDEL", key, "@" .. node)
  redis.call("SREM", "chat:node:" .. node .. ":users", user)
  for _, field in ipairs(redis.call("HKEYS", key)) do
    if string.sub(field, 1, 1) == "@" then return 0 end
  end
  for _, name_key in ipairs(redis.call("HMGET", key, "k", "i")) do
    if name_key and redis.call("HGET", "chat:names", name_key) == user then redis.call("HDEL", "chat:names", name_key) end
  end
  local session = redis.call("HGET", key, "s")
  if session then
    if keep_session_ms == "0" then redis.call("DEL", "chat:session:" .. session)
    else redis.call("PEXPIRE", "chat:session:" .. session, keep_session_ms) end
  end
  redis.call("DEL", key)
  return 1
end
`;

/** ARGV: userId, node. 1 when the user is now on no node (its name and session are gone). */
export const USER_RELEASE = `${RELEASE_USER}
return release_user(ARGV[1], ARGV[2], "0")
`;

/** ARGV: userId, node, 1 or 0: the user has a connection on the node again, or is only held there now. */
export const USER_CONNECTED = `
local key = "chat:user:" .. ARGV[1]
local field = "@" .. ARGV[2]
if redis.call("HEXISTS", key, field) == 1 then redis.call("HSET", key, field, ARGV[3]) end
return 1
`;

/** ARGV: userId. 1 when the user has a connection on some node, 0 when it is only held (or gone). */
export const USER_REACHABLE = `
local fields = redis.call("HGETALL", "chat:user:" .. ARGV[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 1) == "@" and fields[i + 1] == "1" then return 1 end
end
return 0
`;

/** ARGV: userId, name, lower-cased name. 1 when the name is the user's now, 0 when another user has it. */
export const RENAME = `
local user, name, name_key = ARGV[1], ARGV[2], ARGV[3]
local holder = redis.call("HGET", "chat:names", name_key)
if holder and holder ~= user then return 0 end
local key = "chat:user:" .. user
local old, own = unpack(redis.call("HMGET", key, "k", "i"))
-- Its own id stays its name entry (CLAIM_OWN_NAME), whatever it is called now.
if old and old ~= name_key and old ~= own and redis.call("HGET", "chat:names", old) == user then redis.call("HDEL", "chat:names", old) end
redis.call("HSET", "chat:names", name_key, user)
redis.call("HSET", key, "n", name, "k", name_key)
return 1
`;

/**
 * ARGV: userId, its lower-cased id, and "keep" to take the name only if nobody has it
 * (a node saying again who is here). The id is the user's name entry from now on (see
 * RoomRegistry.claimOwnName). A user who had taken that name is renamed to its own id:
 * answers { its userId, its old name }, or nil when nobody was renamed.
 */
export const CLAIM_OWN_NAME = `
local user, key = ARGV[1], ARGV[2]
local holder = redis.call("HGET", "chat:names", key)
local other
if holder and holder ~= user and redis.call("EXISTS", "chat:user:" .. holder) == 1 then other = holder end
-- Two ids differing only in case: the first one here keeps the name.
if other and (ARGV[3] == "keep" or redis.call("HGET", "chat:user:" .. other, "i") == key) then return false end
redis.call("HSET", "chat:names", key, user)
redis.call("HSET", "chat:user:" .. user, "i", key)
if not other then return false end
local other_key = "chat:user:" .. other
local old = redis.call("HGET", other_key, "n")
local own = redis.call("HGET", other_key, "i")
redis.call("HSET", other_key, "n", other)
if own then
  redis.call("HSET", other_key, "k", own)
  redis.call("HSET", "chat:names", own, other)
else
  redis.call("HDEL", other_key, "k")
end
return { other, old }
`;

/** ARGV: userId. The user as { userId, session, name }, or nil: by id only (a name never stands for an id here). */
export const USER_BY_ID = `
local fields = redis.call("HMGET", "chat:user:" .. ARGV[1], "s", "n")
if not fields[1] then return false end
return { ARGV[1], fields[1], fields[2] }
`;

/** ARGV: a userId or a lower-cased name, as typed. The user as { userId, session, name }, or nil. */
export const FIND_USER = `
local user = ARGV[1]
if redis.call("EXISTS", "chat:user:" .. user) == 0 then
  user = redis.call("HGET", "chat:names", ARGV[2])
  if not user then return false end
end
local fields = redis.call("HMGET", "chat:user:" .. user, "s", "n")
if not fields[1] then return false end
return { user, fields[1], fields[2] }
`;

/** ARGV: node, ttlMs. Refreshes the node's heartbeat; 0 when it had expired (the node may have been reaped). */
export const HEARTBEAT = `
local key = "chat:node:" .. ARGV[1]
local alive = redis.call("EXISTS", key)
redis.call("SET", key, "1", "PX", ARGV[2])
redis.call("SADD", "chat:nodes", ARGV[1])
return alive
`;

// Takes a node out of the rooms and users it no longer has (all of them for a dead
// node), collecting the departures as room, userId, name, users left in the room.
const FORGET_NODE = `
local function forget_node(node, keep_rooms, keep_users, keep_session_ms, departures)
  for _, room in ipairs(redis.call("SMEMBERS", "chat:node:" .. node .. ":rooms")) do
    local key = "chat:pres:" .. room
    local entries = redis.call("HGETALL", key)
    local gone = {}
    for i = 1, #entries, 2 do
      local user, list = entries[i], entries[i + 1]
      if has_node(list, node) and not keep_rooms[room .. "\0" .. user] then
        local rest = without_node(list, node)
        if rest ~= "" then
          redis.call("HSET", key, user, rest)
        else
          redis.call("HDEL", key, user)
          redis.call("SREM", "chat:urooms:" .. user, room)
          gone[#gone + 1] = user
        end
      end
    end
    local size = redis.call("HLEN", key)
    for _, user in ipairs(gone) do
      departures[#departures + 1] = room
      departures[#departures + 1] = user
      departures[#departures + 1] = redis.call("HGET", "chat:user:" .. user, "n") or user
      departures[#departures + 1] = size
    end
  end
  for _, user in ipairs(redis.call("SMEMBERS", "chat:node:" .. node .. ":users")) do
    if not keep_users[user] then release_user(user, node, keep_session_ms) end
  end
end
`;

/**
 * ARGV: keepSessionMs. Removes every node whose heartbeat expired: its users leave
 * their rooms and, when on no other node, the cluster. Answers the departures as
 * room, userId, name, users left in the room, repeated.
 */
export const REAP = `${NODE_LIST}${RELEASE_USER}${FORGET_NODE}
local departures = {}
for _, node in ipairs(redis.call("SMEMBERS", "chat:nodes")) do
  if redis.call("EXISTS", "chat:node:" .. node) == 0 then
    forget_node(node, {}, {}, ARGV[1], departures)
    redis.call("DEL", "chat:node:" .. node .. ":rooms", "chat:node:" .. node .. ":users")
    redis.call("SREM", "chat:nodes", node)
  end
end
return departures
`;

/**
 * ARGV: node, keepSessionMs, the number of users, those userIds, then room, userId
 * pairs: everything the node has now. Whatever Redis still holds for the node beyond
 * that (a leave that failed while Redis was away) is removed; answers departures as REAP.
 */
export const PRUNE_NODE = `${NODE_LIST}${RELEASE_USER}${FORGET_NODE}
local keep_users, keep_rooms = {}, {}
local count = tonumber(ARGV[3])
for i = 4, 3 + count do keep_users[ARGV[i]] = true end
for i = 4 + count, #ARGV, 2 do keep_rooms[ARGV[i] .. "\0" .. ARGV[i + 1]] = true end
local departures = {}
forget_node(ARGV[1], keep_rooms, keep_users, ARGV[2], departures)
return departures
`;
