-- Test harness only (dev/harness/prosody.ts loads it with the SASL2 modules). The SASL2 modules of
-- Debian 12's prosody-modules (hg 556bf57d6417, 2023-02-23) were written against Prosody trunk, not the
-- packaged 0.12.3; two things they use are missing there, and this module provides them:
--   - mod_sasl2_fast reads event.stream.from in "stream-features" (0.12 passes no stream attributes):
--     it is taken from the client's stream header, which 0.12 hands to session:stream_attrs().
--   - mod_sasl2 calls conn:ssl_info() on encrypted streams (0.12 has conn:socket():info()).
--   - mod_sasl2_fast formats a token expiry of fractional seconds, which 0.12's util.datetime (os.date
--     under Lua 5.4) refuses: the time is floored first.
--   - mod_sasl2_fast calls stanza:get_child_attr() (added to util.stanza after 0.12).
-- mod_sasl2_sm cannot be helped this way: it needs mod_smacks's do_enable/do_resume of 0.13.
local filters = require "util.filters";
local datetime = require "util.datetime";
local st = require "util.stanza";

if st.stanza_mt.get_child_attr == nil then
	function st.stanza_mt:get_child_attr(name, xmlns, attr)
		local child = self:get_child(name, xmlns);
		return child and child.attr[attr] or nil;
	end
end

if not datetime.xwg_floored then
	local format = datetime.datetime;
	datetime.datetime = function (t) return format(t and math.floor(t)); end
	datetime.xwg_floored = true;
end

local function ssl_info(conn)
	local sock = conn:socket();
	return sock and sock.info and sock:info() or nil;
end

local function on_new_session(session)
	if session.stream_attrs == nil then
		-- util.xmppstream calls it with (from = our host, to = the client's `from`, attributes).
		function session.stream_attrs(s, _, client_from) s.xwg_stream_from = client_from; end
	end
	local mt = session.conn and getmetatable(session.conn);
	local interface = mt and mt.__index;
	if type(interface) == "table" and interface.ssl_info == nil then interface.ssl_info = ssl_info; end
end

filters.add_filter_hook(on_new_session);
function module.unload() filters.remove_filter_hook(on_new_session); end

module:hook("stream-features", function (event)
	if event.stream == nil then event.stream = { from = event.origin.xwg_stream_from }; end
end, 1000);
