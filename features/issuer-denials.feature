@issuer @denial @D12
Feature: Token requests the issuer denies
  The audit page's "Read a denial": when a request is denied, the status detail names the
  cause. Every token request writes one audit event, granted or denied, and a denial
  carries the OAuth error of the reference's denial table (docs/positions.md D12).

  Background:
    Given the user "alice" has signed in with the client

  @SEED-denial-no-grant @IDP-10 @must
  Scenario Outline: A scope the user holds no grant for is denied (<alg>)
    Given the target offers an ungranted scope of the <alg> server
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_scope"
    And the audit event of the request has status detail "No grant for the scope"
    And the audit event of the request records the outcome "denied"
    And the audit event records scope "<scope>" as denied
    And the audit event of the request names the user, the client and the system

    Examples:
      | alg   | scope        |
      | EdDSA | tools.delete |
      | RS256 | tools.delete |
      | ES256 | chat.write   |

  @SEED-denial-scope-not-enabled @IDP-10 @must
  Scenario Outline: A scope that exists but is not enabled on the server is denied (<alg>)
    Given the target offers a scope of the <alg> server that is not enabled
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_scope"
    And the audit event of the request has status detail "Scope not enabled"
    And the audit event of the request records the outcome "denied"
    And the audit event records scope "<scope>" as denied

    Examples:
      | alg   | scope       |
      | EdDSA | tools.admin |
      | RS256 | tools.admin |
      | ES256 | chat.admin  |

  @SEED-denial-server-paused @SEED-kill-switch @IDP-10 @must
  Scenario Outline: A paused server gets no token (<alg>)
    Given the target offers the <alg> server paused
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "access_denied"
    And the audit event of the request has status detail "Server paused"
    And the audit event of the request records the outcome "denied"
    And the audit event of the request names the user, the client and the system

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @SEED-denial-target-url @IDP-12 @must
  Scenario Outline: A target URL outside the server's resource URIs is denied (<alg>)
    Given the target offers an unlisted target of the <alg> server
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_target"
    And the audit event of the request has status detail "Target URL not registered"
    And the audit event of the request records the outcome "denied"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  # No algorithm is involved: no resource server has the audience.
  @SEED-audience-not-registered @IDP-12 @must
  Scenario: An audience no resource server has is denied
    Given the target offers an unregistered audience
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_target"
    And the audit event of the request has status detail "Audience not registered"
    And the audit event of the request records the outcome "denied"

  @SEED-denial-no-key @must
  Scenario Outline: A server whose algorithm the tenant holds no key for is denied (<alg>)
    Given the target offers the <alg> server without a signing key
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 500 and OAuth error "server_error"
    And the audit event of the request has status detail "No signing key for the algorithm"
    And the audit event of the request records the outcome "denied"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  # The denials below are decided before any resource server, so before any algorithm:
  # each runs once.
  @IDP-30 @D6 @must
  Scenario: A client that fails authentication gets no token
    Given the target offers the ES256 server
    When the client requests an ID-JAG for it with a wrong client secret
    Then the request is denied with HTTP 401 and OAuth error "invalid_client"
    And the audit event of the request has status detail "Client authentication failed"

  @IDP-06 @D1 @must
  Scenario: A subject token issued to another client is refused
    Given the target offers the ES256 server
    When another client requests an ID-JAG for it with the same subject token
    Then the request is denied with HTTP 400 and OAuth error "invalid_grant" or "invalid_request"
    And the audit event of the request has status detail "Subject token issued to another client"

  @IDP-05 @D1 @must
  Scenario: A tampered subject token is refused
    Given the target offers the ES256 server
    When the client requests an ID-JAG for it with a tampered subject token
    Then the request is denied with HTTP 400 and OAuth error "invalid_grant" or "invalid_request"
    And the audit event of the request has status detail "Subject token invalid"

  @CLI-05 @must
  Scenario: A token exchange that asks for another token type is refused
    Given the target offers the ES256 server
    When the client requests an ID-JAG for it with requested token type "urn:ietf:params:oauth:token-type:access_token"
    Then the request is denied with HTTP 400 and OAuth error "invalid_request"
    And the audit event of the request has status detail "Requested token type not supported"

  @SEED-tenant-disabled @must
  Scenario: While enterprise-managed authorization is disabled every token request is denied
    Given the target offers the ES256 server
    And the administrator disables enterprise-managed authorization
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "access_denied"
    And the audit event of the request has status detail "Enterprise-managed authorization disabled"
