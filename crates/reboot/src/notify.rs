//! `--notify-url` values: shoutrrr-style URLs parsed into typed targets at start-up.
//!
//! kured hands the URL to shoutrrr v0.8 when it sends, so a malformed URL only shows up as a
//! warning when a node is already draining. Drydock parses it once: a malformed URL, or a
//! service Drydock does not send to, is a start-up error naming the flag. The forms are
//! shoutrrr's:
//!
//! | service | URL |
//! |---|---|
//! | Slack webhook | `slack://[botname@]tokenA/tokenB/tokenC`, `slack://hook:A-B-C@channel` |
//! | Slack bot | `slack://xoxb:<token>@<channel>` |
//! | Teams | `teams://group@tenant/altId/groupOwner[/extraId]?host=<org>.webhook.office.com` |
//! | Discord | `discord://token@webhookId` |
//! | Mattermost | `mattermost://[user@]host[:port]/token[/channel]` |
//! | generic webhook | `generic://host[:port]/path`, `generic+https://…`, `generic+http://…` |
//! | SMTP | `smtp://[user[:pass]@]host[:port]/?fromAddress=…&toAddresses=a,b` |
//!
//! The `Debug` form hides tokens and passwords.

use std::collections::BTreeMap;
use std::fmt;

/// SMTP's standard submission port, shoutrrr's default when the URL has none.
const SMTP_DEFAULT_PORT: u16 = 25;

/// Where a notification goes.
#[derive(Clone, PartialEq, Eq)]
pub enum NotifyUrl {
    /// A Slack incoming webhook (`https://hooks.slack.com/services/A/B/C`).
    SlackWebhook {
        /// The webhook URL to POST to.
        url: String,
        /// The other URL options (`botname`, `color`, `title`, `icon`, …), keys lower-cased.
        options: BTreeMap<String, String>,
    },
    /// The Slack Web API with a bot or user token.
    SlackBot {
        /// The token, `xoxb-…` or `xoxp-…`.
        token: String,
        /// The channel to post in.
        channel: String,
        /// The other URL options, keys lower-cased.
        options: BTreeMap<String, String>,
    },
    /// A Microsoft Teams incoming webhook.
    Teams {
        /// The webhook URL to POST to.
        url: String,
        /// The other URL options, keys lower-cased.
        options: BTreeMap<String, String>,
    },
    /// A Discord webhook.
    Discord {
        /// The webhook URL to POST to.
        url: String,
        /// The other URL options (`username`, `avatar`, …), keys lower-cased.
        options: BTreeMap<String, String>,
    },
    /// A Mattermost incoming webhook.
    Mattermost {
        /// The webhook URL to POST to.
        url: String,
        /// The channel to post in, if not the webhook's default.
        channel: Option<String>,
        /// The user name to post as.
        username: Option<String>,
        /// The other URL options, keys lower-cased.
        options: BTreeMap<String, String>,
    },
    /// Any HTTP endpoint.
    Webhook {
        /// The URL to send to.
        url: String,
        /// The HTTP method (`POST` unless `method=` says otherwise).
        method: String,
        /// The request content type.
        content_type: String,
        /// Extra request headers (`@Name=value` in the URL).
        headers: Vec<(String, String)>,
        /// Extra JSON fields (`$key=value` in the URL).
        extra: Vec<(String, String)>,
        /// `template=` (shoutrrr's `json` sends `{"title":…,"message":…}`), if given.
        template: Option<String>,
    },
    /// Mail.
    Smtp {
        /// The server host.
        host: String,
        /// The server port.
        port: u16,
        /// The login user, if any.
        username: Option<String>,
        /// The login password, if any.
        password: Option<String>,
        /// The sender address.
        from_address: String,
        /// The recipients.
        to_addresses: Vec<String>,
        /// The other URL options (`subject`, `fromname`, `encryption`, `auth`, …), keys
        /// lower-cased.
        options: BTreeMap<String, String>,
    },
}

impl NotifyUrl {
    /// Parses one shoutrrr-style URL.
    pub fn parse(text: &str) -> Result<NotifyUrl, String> {
        let url = RawUrl::parse(text)?;
        match url.scheme.as_str() {
            "slack" => parse_slack(url),
            "teams" => parse_teams(url),
            "discord" => parse_discord(url),
            "mattermost" => parse_mattermost(url),
            "generic" | "generic+http" | "generic+https" => parse_generic(url),
            "smtp" => parse_smtp(url),
            other => Err(format!(
                "notification service {other:?} is not supported (supported: slack, teams, \
                 discord, mattermost, generic, smtp)"
            )),
        }
    }

    /// The service name, for logs.
    pub fn service(&self) -> &'static str {
        match self {
            NotifyUrl::SlackWebhook { .. } | NotifyUrl::SlackBot { .. } => "slack",
            NotifyUrl::Teams { .. } => "teams",
            NotifyUrl::Discord { .. } => "discord",
            NotifyUrl::Mattermost { .. } => "mattermost",
            NotifyUrl::Webhook { .. } => "generic",
            NotifyUrl::Smtp { .. } => "smtp",
        }
    }
}

/// Hides secrets: prints the service and where it goes, never tokens or passwords.
impl fmt::Debug for NotifyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyUrl::SlackBot { channel, .. } => write!(f, "slack bot → #{channel}"),
            NotifyUrl::Mattermost { url, .. }
            | NotifyUrl::Webhook { url, .. }
            | NotifyUrl::Teams { url, .. }
            | NotifyUrl::SlackWebhook { url, .. }
            | NotifyUrl::Discord { url, .. } => {
                let host = url.split('/').nth(2).unwrap_or_default();
                write!(f, "{} → {host}/…", self.service())
            }
            NotifyUrl::Smtp {
                host,
                port,
                to_addresses,
                ..
            } => write!(f, "smtp {host}:{port} → {}", to_addresses.join(",")),
        }
    }
}

/// The pieces of a URL, percent-decoded.
struct RawUrl {
    scheme: String,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    /// Non-empty path segments.
    segments: Vec<String>,
    /// The path as written (still encoded), with its leading `/`.
    raw_path: String,
    query: Vec<(String, String)>,
}

impl RawUrl {
    fn parse(text: &str) -> Result<RawUrl, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?} is not a URL (expected service://…)"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(format!("{text:?} has an invalid scheme"));
        }
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, raw_path) = rest
            .find('/')
            .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(decode(u)?), Some(decode(p)?)),
                None => (Some(decode(info)?), None),
            },
        };
        let (host, port) = split_host_port(hostport)?;
        let segments = raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                Ok((decode(&k.replace('+', " "))?, decode(&v.replace('+', " "))?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(RawUrl {
            scheme,
            user: user.filter(|u| !u.is_empty()),
            password,
            host,
            port,
            segments,
            raw_path: raw_path.to_owned(),
            query,
        })
    }

    fn host_port(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The query as options with lower-cased keys.
    fn options(&self) -> BTreeMap<String, String> {
        self.query
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect()
    }

    fn require_host(&self, what: &str) -> Result<(), String> {
        if self.host.is_empty() {
            Err(format!("{} URL has no {what}", self.scheme))
        } else {
            Ok(())
        }
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("unterminated IPv6 address in {hostport:?}"))?;
        (format!("[{inside}]"), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("invalid port {p:?} in {hostport:?}"))
        })
        .transpose()?;
    Ok((decode(&host)?, port))
}

/// Percent-decodes a URL component.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-encoding in {text:?} is not UTF-8"))
}

fn parse_slack(url: RawUrl) -> Result<NotifyUrl, String> {
    let options = url.options();
    // `slack://hook:A-B-C@channel` and `slack://xoxb:token@channel`.
    if let (Some(kind), Some(token)) = (url.user.as_deref(), url.password.as_deref()) {
        url.require_host("channel")?;
        return match kind {
            "hook" => {
                let parts: Vec<&str> = token.split(['-', '/']).collect();
                if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
                    return Err("slack hook token must be tokenA-tokenB-tokenC".into());
                }
                let mut options = options;
                if url.host != "webhook" {
                    options.insert("channel".into(), url.host.clone());
                }
                Ok(NotifyUrl::SlackWebhook {
                    url: format!("https://hooks.slack.com/services/{}", parts.join("/")),
                    options,
                })
            }
            "xoxb" | "xoxp" => Ok(NotifyUrl::SlackBot {
                token: format!("{kind}-{token}"),
                channel: url.host.clone(),
                options,
            }),
            other => Err(format!(
                "slack token type {other:?} is not hook, xoxb or xoxp"
            )),
        };
    }
    // Legacy `slack://[botname@]tokenA/tokenB/tokenC`, which kured's --slack-hook-url becomes.
    url.require_host("token")?;
    if url.segments.len() != 2 {
        return Err("slack URL must be slack://tokenA/tokenB/tokenC".into());
    }
    let mut options = options;
    if let Some(botname) = url.user {
        options.insert("botname".into(), botname);
    }
    Ok(NotifyUrl::SlackWebhook {
        url: format!(
            "https://hooks.slack.com/services/{}/{}/{}",
            url.host, url.segments[0], url.segments[1]
        ),
        options,
    })
}

fn parse_teams(url: RawUrl) -> Result<NotifyUrl, String> {
    let group = url
        .user
        .as_deref()
        .ok_or("teams URL must be teams://group@tenant/altId/groupOwner?host=…")?;
    url.require_host("tenant")?;
    if !(2..=3).contains(&url.segments.len()) {
        return Err("teams URL must be teams://group@tenant/altId/groupOwner[/extraId]".into());
    }
    let mut options = url.options();
    let host = options
        .remove("host")
        .filter(|h| !h.is_empty())
        .ok_or("teams URL needs ?host=<organisation>.webhook.office.com")?;
    Ok(NotifyUrl::Teams {
        url: format!(
            "https://{host}/webhookb2/{group}@{}/IncomingWebhook/{}",
            url.host,
            url.segments.join("/")
        ),
        options,
    })
}

fn parse_discord(url: RawUrl) -> Result<NotifyUrl, String> {
    let token = url
        .user
        .as_deref()
        .ok_or("discord URL must be discord://token@webhookId")?;
    url.require_host("webhook id")?;
    if !url.segments.is_empty() {
        return Err("discord URL must be discord://token@webhookId".into());
    }
    Ok(NotifyUrl::Discord {
        url: format!("https://discord.com/api/webhooks/{}/{token}", url.host),
        options: url.options(),
    })
}

fn parse_mattermost(url: RawUrl) -> Result<NotifyUrl, String> {
    url.require_host("host")?;
    let (token, channel) = match url.segments.as_slice() {
        [token] => (token.clone(), None),
        [token, channel] => (token.clone(), Some(channel.clone())),
        _ => return Err("mattermost URL must be mattermost://[user@]host/token[/channel]".into()),
    };
    let mut options = url.options();
    let scheme = match options.remove("disabletls").as_deref() {
        Some("yes" | "true" | "1") => "http",
        _ => "https",
    };
    Ok(NotifyUrl::Mattermost {
        url: format!("{scheme}://{}/hooks/{token}", url.host_port()),
        channel,
        username: url.user.clone(),
        options,
    })
}

fn parse_generic(url: RawUrl) -> Result<NotifyUrl, String> {
    url.require_host("host")?;
    let mut scheme = match url.scheme.as_str() {
        "generic+http" => "http",
        _ => "https",
    };
    let mut method = "POST".to_owned();
    let mut content_type = "application/json".to_owned();
    let mut template = None;
    let mut headers = Vec::new();
    let mut extra = Vec::new();
    let mut passthrough = Vec::new();
    for (key, value) in &url.query {
        if let Some(name) = key.strip_prefix('@') {
            headers.push((name.to_owned(), value.clone()));
        } else if let Some(name) = key.strip_prefix('$') {
            extra.push((name.to_owned(), value.clone()));
        } else {
            match key.to_ascii_lowercase().as_str() {
                "method" => method = value.to_ascii_uppercase(),
                "contenttype" => content_type = value.clone(),
                "template" => template = Some(value.clone()),
                "disabletls" if matches!(value.as_str(), "yes" | "true" | "1") => {
                    scheme = "http";
                }
                "disabletls" | "messagekey" | "titlekey" | "title" => {}
                _ => passthrough.push(format!("{key}={value}")),
            }
        }
    }
    let query = if passthrough.is_empty() {
        String::new()
    } else {
        format!("?{}", passthrough.join("&"))
    };
    Ok(NotifyUrl::Webhook {
        url: format!("{scheme}://{}{}{query}", url.host_port(), url.raw_path),
        method,
        content_type,
        headers,
        extra,
        template,
    })
}

fn parse_smtp(url: RawUrl) -> Result<NotifyUrl, String> {
    url.require_host("host")?;
    let mut options = url.options();
    let from_address = options
        .remove("fromaddress")
        .filter(|a| a.contains('@'))
        .ok_or("smtp URL needs fromAddress=<address>")?;
    let to_addresses: Vec<String> = options
        .remove("toaddresses")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if to_addresses.is_empty() || to_addresses.iter().any(|a| !a.contains('@')) {
        return Err("smtp URL needs toAddresses=<address>[,<address>…]".into());
    }
    Ok(NotifyUrl::Smtp {
        host: url.host.clone(),
        port: url.port.unwrap_or(SMTP_DEFAULT_PORT),
        username: url.user.clone(),
        password: url.password.clone(),
        from_address,
        to_addresses,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kureds_converted_slack_hook_becomes_a_webhook() {
        let n = NotifyUrl::parse("slack://A/B/C").unwrap();
        assert_eq!(
            n,
            NotifyUrl::SlackWebhook {
                url: "https://hooks.slack.com/services/A/B/C".into(),
                options: BTreeMap::new(),
            }
        );
        let n = NotifyUrl::parse("slack://kured@A/B/C?color=good").unwrap();
        let NotifyUrl::SlackWebhook { options, .. } = n else {
            panic!("webhook expected");
        };
        assert_eq!(options["botname"], "kured");
        assert_eq!(options["color"], "good");
    }

    #[test]
    fn slack_bot_and_hook_token_forms_parse() {
        assert_eq!(
            NotifyUrl::parse("slack://xoxb:123-456-abc@C0123?botname=kured").unwrap(),
            NotifyUrl::SlackBot {
                token: "xoxb-123-456-abc".into(),
                channel: "C0123".into(),
                options: [("botname".to_owned(), "kured".to_owned())].into(),
            }
        );
        let NotifyUrl::SlackWebhook { url, .. } =
            NotifyUrl::parse("slack://hook:WNA3-F20D-Webc@webhook").unwrap()
        else {
            panic!("webhook expected");
        };
        assert_eq!(url, "https://hooks.slack.com/services/WNA3/F20D/Webc");
    }

    #[test]
    fn teams_discord_mattermost_generic_and_smtp_forms_parse() {
        let NotifyUrl::Teams { url, .. } =
            NotifyUrl::parse("teams://grp@tenant/alt/owner?host=contoso.webhook.office.com")
                .unwrap()
        else {
            panic!("teams expected");
        };
        assert_eq!(
            url,
            "https://contoso.webhook.office.com/webhookb2/grp@tenant/IncomingWebhook/alt/owner"
        );
        let NotifyUrl::Discord { url, .. } = NotifyUrl::parse("discord://tok@1234").unwrap() else {
            panic!("discord expected");
        };
        assert_eq!(url, "https://discord.com/api/webhooks/1234/tok");
        let NotifyUrl::Mattermost {
            url,
            channel,
            username,
            ..
        } = NotifyUrl::parse("mattermost://bot@chat.example.com:8065/tok/ops").unwrap()
        else {
            panic!("mattermost expected");
        };
        assert_eq!(url, "https://chat.example.com:8065/hooks/tok");
        assert_eq!(channel.as_deref(), Some("ops"));
        assert_eq!(username.as_deref(), Some("bot"));
        let NotifyUrl::Webhook {
            url,
            headers,
            template,
            ..
        } = NotifyUrl::parse(
            "generic://hooks.example.com/notify?template=json&@Authorization=Bearer+x&team=a",
        )
        .unwrap()
        else {
            panic!("webhook expected");
        };
        assert_eq!(url, "https://hooks.example.com/notify?team=a");
        assert_eq!(
            headers,
            [("Authorization".to_owned(), "Bearer x".to_owned())]
        );
        assert_eq!(template.as_deref(), Some("json"));
        let NotifyUrl::Webhook { url, .. } =
            NotifyUrl::parse("generic+http://10.0.0.1:8080/hook").unwrap()
        else {
            panic!("webhook expected");
        };
        assert_eq!(url, "http://10.0.0.1:8080/hook");
        let NotifyUrl::Smtp {
            host,
            port,
            password,
            to_addresses,
            ..
        } = NotifyUrl::parse(
            "smtp://user:p%40ss@mail.example.com:587/?fromAddress=kured@example.com&toAddresses=a@example.com,b@example.com",
        )
        .unwrap()
        else {
            panic!("smtp expected");
        };
        assert_eq!((host.as_str(), port), ("mail.example.com", 587));
        assert_eq!(password.as_deref(), Some("p@ss"));
        assert_eq!(to_addresses.len(), 2);
    }

    #[test]
    fn malformed_notify_urls_are_refused() {
        for bad in [
            "https://hooks.slack.com/services/A/B/C",
            "hooks.slack.com",
            "slack://A/B",
            "slack://",
            "slack://bogus:tok@chan",
            "teams://grp@tenant/alt/owner",
            "discord://1234",
            "mattermost://host",
            "smtp://mail.example.com/?toAddresses=a@example.com",
            "smtp://mail.example.com:99999/?fromAddress=a@b&toAddresses=a@b",
            "smtp://mail.example.com/?fromAddress=a@b",
            "generic://",
            "telegram://token@telegram?chats=1",
            "slack://A/B/%zz",
        ] {
            assert!(NotifyUrl::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn debug_output_hides_tokens_and_passwords() {
        let n = NotifyUrl::parse("slack://xoxb:secret-token@C1").unwrap();
        assert!(!format!("{n:?}").contains("secret"));
        let n = NotifyUrl::parse("discord://secret@1234").unwrap();
        assert!(!format!("{n:?}").contains("secret"));
        let n = NotifyUrl::parse(
            "smtp://u:secret@mail.example.com/?fromAddress=a@b.c&toAddresses=d@e.f",
        )
        .unwrap();
        assert!(!format!("{n:?}").contains("secret"));
    }
}
