-- Test module: Prosody names its own c2s address in XEP-0198 <enabled/> (§5: location='host:port'), as a
-- server of a cluster may do. mod_smacks 0.12 never does; this makes one that does.
local filters = require "util.filters";
local location = module:get_option_string("test_sm_location", "192.0.2.1:5222");

local function add_location(stanza)
	if stanza.name == "enabled" and stanza.attr.xmlns == "urn:xmpp:sm:3" then
		stanza.attr.location = location;
	end
	return stanza;
end

local function install(session)
	filters.add_filter(session, "stanzas/out", add_location, -100);
end

function module.load()
	filters.add_filter_hook(install);
end

function module.unload()
	filters.remove_filter_hook(install);
end
