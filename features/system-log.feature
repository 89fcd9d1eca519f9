@issuer @system-log
Feature: The system log: what each token request records, reading it, and streaming it
  The audit page: one audit event for every token request, granted or denied, holding who
  asked, what they asked for and what the issuer decided; read and downloaded directly, or
  streamed to a SIEM by the System log exporter. The issuer records the issuance decision
  only: the agent's redemption and MCP calls never pass through it.

  Background:
    Given the user "alice" has signed in with the client

  # "What's recorded" as one table: every field of one event against the token actually
  # issued, then the same event found through each filter and in both downloads. A granted
  # and an ungranted scope together give both per-scope outcomes.
  @SEED-audit-fields @SEED-system-log-read @must
  Scenario Outline: The system log lists an <alg> issuance with every field the audit page names, and downloads it unchanged
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it with its scope and the scope granted to nobody
    Then the request is granted
    And the system log's event of the request records every field of the audit page
    And filtering the system log by its user, client, system and outcome lists the event, and only events that match
    And the system log's NDJSON download holds the event with every field unchanged
    And the system log's CSV download holds the event with every field unchanged

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  # "Read a denial": each status detail of the audit page's table is what an admin filters
  # the system log by. The denials themselves are proven under every algorithm in
  # issuer-denials.feature; here one algorithm suffices.
  @SEED-system-log-read @SEED-audit-fields @must
  Scenario Outline: Filtering the system log by the status detail "<detail>" finds the denial
    Given the target offers <role>
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP <status> and OAuth error "<error>"
    And the audit event of the request has status detail "<detail>"
    And the audit event of the request records the outcome "denied"
    And the system log's event of the request records every field of the audit page
    And filtering the system log by its status detail lists the event, and only events that match

    @SEED-denial-no-grant
    Examples:
      | role                                   | status | error         | detail                 |
      | an ungranted scope of the ES256 server | 400    | invalid_scope | No grant for the scope |

    @SEED-denial-scope-not-enabled
    Examples:
      | role                                            | status | error         | detail            |
      | a scope of the ES256 server that is not enabled | 400    | invalid_scope | Scope not enabled |

    @SEED-denial-server-paused
    Examples:
      | role                    | status | error         | detail        |
      | the ES256 server paused | 400    | access_denied | Server paused |

    @SEED-denial-target-url
    Examples:
      | role                                   | status | error          | detail                    |
      | an unlisted target of the ES256 server | 400    | invalid_target | Target URL not registered |

    @SEED-denial-no-key
    Examples:
      | role                                   | status | error        | detail                           |
      | the ES256 server without a signing key | 500    | server_error | No signing key for the algorithm |

  # "Debug a signature rejection", as the audit page tells it: a token issued successfully
  # is rejected by the MCP server's authorization server; the issuance record's algorithm
  # is not the one that server verifies, and its key ID is the key the JWKS publishes for
  # the recorded algorithm; setting the server's algorithm fixes it.
  @SEED-algorithm-mismatch @SEED-audit-fields @must
  Scenario: A token the authorization server rejects is debugged from its issuance record, and the fix lets the next one through
    Given the target offers a server whose authorization server verifies another algorithm
    When the client requests an ID-JAG for it
    Then the request is granted
    And the audit event of the request records the outcome "granted"
    When the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"
    And the audit event records the ID-JAG's token id, key id, algorithm and lifetime
    And the system log's event of the request records an algorithm other than the one its authorization server verifies
    And the system log's event of the request records the key the issuer's JWKS publishes for that algorithm
    When the administrator sets its signing algorithm to the one its authorization server verifies
    And the client requests an ID-JAG for it
    Then the request is granted
    And the system log's event of the request records the algorithm its authorization server verifies
    And the system log's event of the request records the key the issuer's JWKS publishes for that algorithm
    When the ID-JAG is redeemed at its authorization server
    Then the redemption is granted

  # "What C1 sees": the whole log is counted before and after, which is exact only on a
  # log no other check writes to (other checks share the user, client and system, and the
  # reference's clock is fixed, so `since` cannot tell their events apart): the noting step
  # gives the check a target of its own.
  @SEED-issuance-only @must
  Scenario: The issuer records the token request, and nothing of the redemption or the MCP calls that follow
    Given the target offers the ES256 server
    And the system log's events so far are noted
    When the client requests an ID-JAG for it
    Then the request is granted
    When the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the access token calls initialize, tools/list and tools/call at the role's MCP server
    Then the system log holds one event more than was noted, the request's

  # "Audit MCP access in your SIEM": the admin API is the reference's "Add exporter"
  # (exporter configuration is vendor-specific, so this runs on the reference only). Both
  # denials carry a status detail, so the SIEM gets granted and denied events alike.
  @SEED-system-log-exporter @must
  Scenario Outline: An http exporter with the <envelope> envelope delivers every granted and denied token request to the SIEM, every field intact
    Given the target offers the ES256 server
    When the administrator adds an http exporter with the <envelope> envelope, pointed at a SIEM sink the suite runs
    And the client requests an ID-JAG for it
    Then the request is granted
    When the client requests an ID-JAG for it with a wrong client secret
    Then the request is denied with HTTP 401 and OAuth error "invalid_client"
    And the audit event of the request has status detail "Client authentication failed"
    Given the target offers an ungranted scope of the ES256 server
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_scope"
    And the audit event of the request has status detail "No grant for the scope"
    And within 10 seconds the SIEM sink holds every event recorded since the exporter was added, every field as the system log lists it
    And within 10 seconds the exporter's status shows lag 0 and a last success

    Examples:
      | envelope   |
      | ndjson     |
      | splunk_hec |
