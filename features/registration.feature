@issuer @registration
Feature: Registering and pausing a resource server
  The register page: the audience is the issuer URL of the MCP server's authorization
  server, fixed once created, never the tenant's own URL; the modify-claims hook is
  reserved; disabling a resource server is a per-server off switch that keeps its
  configuration, and re-enabling restores it.

  Background:
    Given the user "alice" has signed in with the client

  @SEED-audience-not-tenant @must
  Scenario: The tenant's own URL is refused as an audience
    Given the target offers the ES256 server
    When the administrator registers another resource server with the tenant's own URL as audience
    Then the administration request is refused with HTTP 400 and error "audience_is_tenant_url"

  @SEED-audience-unique @must
  Scenario: A second registration with an audience already registered is refused
    Given the target offers the ES256 server
    When the administrator registers another resource server with its audience as audience
    Then the administration request is refused with HTTP 409 and error "conflict"

  @SEED-audience-fixed @must
  Scenario: The audience cannot be changed after creation
    Given the target offers the ES256 server
    When the administrator changes its audience
    Then the administration request is refused with HTTP 400 and error "audience_immutable"

  @SEED-modify-claims-hook @must
  Scenario: The modify-claims hook is not yet available
    Given the target offers the ES256 server
    When the administrator sets its modify-claims hook
    Then the administration request is refused with HTTP 400 and error "modify_claims_hook_not_available"

  @SEED-tenant-disabled @must
  Scenario: No resource server can be registered while enterprise-managed authorization is disabled
    Given the target offers the ES256 server
    And the administrator disables enterprise-managed authorization
    When the administrator registers another resource server with a new audience as audience
    Then the administration request is refused with HTTP 409 and error "tenant_disabled"

  @SEED-kill-switch @SEED-denial-server-paused @must
  Scenario: Disabling a server denies its next token request, and enabling it restores it unchanged
    Given the target offers the ES256 server
    And the administrator disables it
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "access_denied"
    And the audit event of the request has status detail "Server paused"
    When the administrator enables it again
    Then its configuration is what it was before it was disabled
    When the client requests an ID-JAG for it
    Then the request is granted

  @SEED-kill-switch @AS-07 @must
  Scenario: An ID-JAG minted before the server was paused keeps working until it expires
    Given the target offers the ES256 server
    When the client requests an ID-JAG for it
    And the administrator disables it
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted

  @SEED-lifetime-indefinite @IDP-18 @IDP-28 @must
  Scenario: An indefinite maximum grant lifetime inherits the 300-second default
    Given the target offers a server with an indefinite maximum grant lifetime
    When the client requests an ID-JAG for it
    Then the request is granted
    And the ID-JAG lives 300 seconds
    And the response's "expires_in" is "300"

  @SEED-lifetime-maximum @IDP-28 @must
  Scenario: A server's maximum grant lifetime bounds its ID-JAGs
    Given the target offers a server with a maximum grant lifetime of 600 seconds
    When the client requests an ID-JAG for it
    Then the request is granted
    And the ID-JAG lives 600 seconds

  @SEED-denial-target-url @IDP-12 @must
  Scenario Outline: Adding the URL the agent calls to the resource URLs lets the same request through (<alg>)
    Given the target offers an unlisted target of the <alg> server
    When the client requests an ID-JAG for it
    Then the request is denied with HTTP 400 and OAuth error "invalid_target"
    When the administrator adds the target URL to its resource URLs
    And the client requests an ID-JAG for it
    Then the request is granted
    And the ID-JAG's "resource" claim is the role's resource

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |
