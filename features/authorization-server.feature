@authorization-server
Feature: The MCP authorization server redeems ID-JAGs
  The ID-JAG is addressed to the MCP server's authorization server, which verifies the
  issuer's signature with the one algorithm it verifies and exchanges the token for an
  access token (the register page's "What's a resource server?").

  Background:
    Given the user "alice" has signed in with the client

  @AS-07 @AS-15 @AS-23 @AS-24 @AS-25 @D4 @must
  Scenario Outline: A valid <alg> ID-JAG is redeemed once and only once
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    And the response's "token_type" is "Bearer"
    And the response's "Cache-Control" header is "no-store"
    And the response's "scope" is the role's scope
    And the response's "resource" is the role's resource
    And the response has no "refresh_token"
    When the ID-JAG is redeemed at its authorization server again
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-19 @RS-03 @must
  Scenario Outline: The access token a valid <alg> ID-JAG is redeemed for opens its MCP server
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    And the access token is accepted by the role's MCP server

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

  @SEED-algorithm-mismatch @must
  Scenario: Setting the server's signing algorithm to one its authorization server verifies fixes the mismatch
    Given the target offers a server whose authorization server verifies another algorithm
    When the administrator sets its signing algorithm to the one its authorization server verifies
    And the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted

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

  @AS-11 @D6 @must
  Scenario Outline: A redemption by a client with a wrong secret is refused, and the same ID-JAG is then redeemed (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server with a wrong client secret
    Then the redemption is refused with HTTP 401 and OAuth error "invalid_client"
    And the response's "WWW-Authenticate" header starts with "Basic"
    When the ID-JAG is redeemed at its authorization server
    Then the redemption is granted

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  # RFC 6749 §5.2 lets a server answer 400 when no Authorization header was sent, so the
  # exact 401 is a should; the refusal itself is a must (the outline above).
  @AS-11 @D6 @should
  Scenario Outline: A redemption without client authentication is refused with 401 invalid_client (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server without client authentication
    Then the redemption is refused with HTTP 401 and OAuth error "invalid_client"
    When the ID-JAG is redeemed at its authorization server
    Then the redemption is granted

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-19 @AS-23 @D17 @must
  Scenario Outline: The access token is for the ID-JAG's resource, whatever resource the client asks for (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server with the resource of another authorization server
    Then the redemption is refused, or its access token's "aud" claim is the role's resource
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server with its own resource
    Then the redemption is granted
    And the access token's "aud" claim is the role's resource
    And the response's "resource" is the role's resource

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-19 @D17 @should
  Scenario Outline: A resource parameter other than the ID-JAG's is refused with invalid_target (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server with the resource of another authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_target"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-17 @D19 @must
  Scenario Outline: An ID-JAG naming two resources never yields a token for the foreign one (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with two resources, its own and another authorization server's
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused, or its access token's "aud" claim is the role's resource

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-20 @must
  Scenario Outline: A redemption asking for more scopes than the ID-JAG carries gets no more (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server with its scope and its other scope
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_scope", or grants no scope beyond its other scope

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  # Under ES256 the reference's test user holds one enabled scope only, so nothing can be
  # left out.
  @AS-20 @D5 @should
  Scenario Outline: A redemption asking for fewer scopes than the ID-JAG carries gets just those (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it with its scope and its other scope
    And the ID-JAG is redeemed at its authorization server with its scope
    Then the redemption is granted
    And the response's "scope" is the role's scope

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |

  @AS-15 @D4 @must
  Scenario Outline: A valid <alg> ID-JAG redeemed eight times at once is granted once
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is redeemed at its authorization server 8 times at once
    Then exactly one of the redemptions is granted and every other is refused with OAuth error "invalid_grant"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |
