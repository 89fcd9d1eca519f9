@authorization-server @hostile
Feature: The MCP authorization server refuses ID-JAGs the specifications forbid
  Each ID-JAG below is one the issuer minted, re-signed with the issuer's own key after one
  change, so that change is its only defect. A control comes first: the same kind of
  token, re-signed unchanged, is accepted, so a refusal cannot come from anything else.

  Background:
    Given the user "alice" has signed in with the client

  @must
  Scenario Outline: An <alg> ID-JAG re-signed with <change> is refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with <change>
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

    @AS-06
    Examples: explicit typing (RFC 8725 §3.11)
      | alg   | change |
      | EdDSA | typ "JWT" |
      | RS256 | typ "JWT" |
      | ES256 | typ "JWT" |
      | EdDSA | typ "at+jwt" |
      | RS256 | typ "at+jwt" |
      | ES256 | typ "at+jwt" |

    @AS-08
    Examples: a trusted issuer
      | alg   | change |
      | EdDSA | its "iss" claim set to "https://evil.example" |
      | RS256 | its "iss" claim set to "https://evil.example" |
      | ES256 | its "iss" claim set to "https://evil.example" |

    @AS-09 @D10
    Examples: the audience is this authorization server's issuer, exactly
      | alg   | change |
      | EdDSA | its "aud" claim set to "https://as.other.example" |
      | RS256 | its "aud" claim set to "https://as.other.example" |
      | ES256 | its "aud" claim set to "https://as.other.example" |
      | EdDSA | a second audience "https://as.other.example" |
      | RS256 | a second audience "https://as.other.example" |
      | ES256 | a second audience "https://as.other.example" |
      | EdDSA | its audience followed by a slash |
      | RS256 | its audience followed by a slash |
      | ES256 | its audience followed by a slash |

    @AS-10
    Examples: client_id is the authenticated client
      | alg   | change |
      | EdDSA | its "client_id" claim set to "someone-else" |
      | RS256 | its "client_id" claim set to "someone-else" |
      | ES256 | its "client_id" claim set to "someone-else" |

    @AS-13
    Examples: not expired
      | alg   | change |
      | EdDSA | its "exp" claim 400 seconds before its "iat" claim |
      | RS256 | its "exp" claim 400 seconds before its "iat" claim |
      | ES256 | its "exp" claim 400 seconds before its "iat" claim |

    @AS-14
    Examples: not issued or valid in the future
      | alg   | change |
      | EdDSA | its "iat" claim 400 seconds after its "iat" claim |
      | RS256 | its "iat" claim 400 seconds after its "iat" claim |
      | ES256 | its "iat" claim 400 seconds after its "iat" claim |
      | EdDSA | its "nbf" claim 400 seconds after its "iat" claim |
      | RS256 | its "nbf" claim 400 seconds after its "iat" claim |
      | ES256 | its "nbf" claim 400 seconds after its "iat" claim |

    @AS-05 @IDP-21
    Examples: every required claim
      | alg   | change |
      | EdDSA | its "sub" claim removed |
      | RS256 | its "sub" claim removed |
      | ES256 | its "sub" claim removed |
      | EdDSA | its "jti" claim removed |
      | RS256 | its "jti" claim removed |
      | ES256 | its "jti" claim removed |
      | EdDSA | its "exp" claim removed |
      | RS256 | its "exp" claim removed |
      | ES256 | its "exp" claim removed |
      | EdDSA | its "iat" claim removed |
      | RS256 | its "iat" claim removed |
      | ES256 | its "iat" claim removed |
      | EdDSA | its "client_id" claim removed |
      | RS256 | its "client_id" claim removed |
      | ES256 | its "client_id" claim removed |


  @AS-18 @D3 @must
  Scenario Outline: An <alg> ID-JAG naming a resource of another authorization server is refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with a resource of another authorization server
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant", or "invalid_target" as a warning

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-21 @should
  Scenario Outline: An <alg> ID-JAG with a scope its MCP server does not define is refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with its "scope" claim set to "mail.read"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |
