//! The snmpd configuration `hato init` writes from `[snmp]` in hato.toml.
//! net-snmp does the protocol (v2c, v3 USM, HOST-RESOURCES, IF, UCD tables);
//! Hato decides who may ask and what it answers with.

use crate::config::SnmpConfig;

/// The main config, written to /run/hato/snmpd.conf (/etc/snmp/snmpd.conf points there).
pub fn config(c: &SnmpConfig, hostname: &str) -> String {
    let mut out = String::from("# Written by hato init from [snmp] in /data/etc/hato.toml; edits here are lost.\n");
    out.push_str("agentAddress udp:161,udp6:161\n");
    out.push_str(&format!("sysName {hostname}\n"));
    out.push_str(&format!("sysLocation {}\n", one_line(&c.location)));
    out.push_str(&format!("sysContact {}\n", one_line(&c.contact)));
    out.push_str("sysServices 76\n");
    // Disk and load tables (UCD) for the data filesystem.
    out.push_str("disk /data 10%\nload 12 10 5\n");
    if let Some(community) = &c.community {
        if c.community_sources.is_empty() {
            out.push_str(&format!(
                "rocommunity {} default\nrocommunity6 {} default\n",
                one_line(community),
                one_line(community)
            ));
        }
        for src in &c.community_sources {
            out.push_str(&format!("rocommunity {} {}\n", one_line(community), one_line(src)));
        }
        for sink in &c.trap_sinks {
            out.push_str(&format!("trap2sink {} {}\n", one_line(sink), one_line(community)));
        }
    }
    if let Some(user) = &c.v3_user {
        out.push_str(&format!("rouser {} priv\n", one_line(user)));
    }
    // Hato's own MIBs are served through AgentX on this socket.
    out.push_str("master agentx\nagentXSocket /run/hato/agentx.sock\nagentXPerms 0660 0770\n");
    out
}

/// The line that creates the v3 user in snmpd's persistent store; snmpd
/// replaces it with a localized key at first start, so passwords do not
/// stay on disk in clear.
pub fn create_user(c: &SnmpConfig) -> Option<String> {
    let (u, a, p) = (c.v3_user.as_ref()?, c.v3_auth_password.as_ref()?, c.v3_priv_password.as_ref()?);
    Some(format!("createUser {} SHA \"{}\" AES \"{}\"\n", one_line(u), quote(a), quote(p)))
}

fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn quote(s: &str) -> String {
    one_line(s).replace('"', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_v2c_and_v3_access() {
        let c = SnmpConfig {
            community: Some("s3cret\nrwcommunity x".into()),
            community_sources: vec!["192.0.2.0/24".into()],
            v3_user: Some("monitor".into()),
            v3_auth_password: Some("authpass1".into()),
            v3_priv_password: Some("privpass1".into()),
            location: "Rack 7".into(),
            contact: "it@example.com".into(),
            trap_sinks: vec!["192.0.2.5".into()],
        };
        let text = config(&c, "mail1");
        assert!(
            text.contains("rocommunity s3cretrwcommunity x 192.0.2.0/24\n"),
            "newlines cannot inject directives: {text}"
        );
        assert!(!text.contains("\nrwcommunity"));
        assert!(text.contains("rouser monitor priv\n"));
        assert!(text.contains("trap2sink 192.0.2.5 "));
        assert!(text.contains("master agentx\n"));
        assert_eq!(create_user(&c).unwrap(), "createUser monitor SHA \"authpass1\" AES \"privpass1\"\n");
        let none = config(&SnmpConfig::default(), "h");
        assert!(!none.contains("rocommunity") && !none.contains("rouser"), "no access unless configured");
        assert!(create_user(&SnmpConfig::default()).is_none());
    }
}
