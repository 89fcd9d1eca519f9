@authorization-server
Feature: The MCP authorization server redeems ID-JAGs
  The ID-JAG is addressed to the MCP server's authorization server, which verifies the
  issuer's signature with the one algorithm it verifies and exchanges the token for an
  access token (the register page's "What's a resource server?").

  Background:
    Given the user "alice" has signed in with the client

  @AS-07 @AS-15 @AS-24 @AS-25 @D4 @must
  Scenario Outline: A valid <alg> ID-JAG is redeemed once and only once
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    And the response's "token_type" is "Bearer"
    And the response has no "refresh_token"
    When the ID-JAG is redeemed at its authorization server again
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @SEED-algorithm-mismatch @AS-07 @must
  Scenario: An authorization server that verifies another algorithm rejects an otherwise valid ID-JAG
    Given the target offers a server whose authorization server verifies another algorithm
    When the client requests an ID-JAG for it
    Then the request is granted
    When the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

  @AS-13 @must
  Scenario Outline: An expired <alg> ID-JAG is refused, while a fresh one is accepted
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the clock moves 661 seconds forward
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-06 @must
  Scenario: An ID-JAG whose typ is not oauth-id-jag+jwt is refused, while the same token correctly typed is accepted
    Given the target offers the ES256 server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "JWT"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"
