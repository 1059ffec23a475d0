"""A test-only domain folder over tau2's mock domain (to-do tasks): what a new domain adds, and nothing in core.

``tests/test_domain_folders.py`` registers it as ``register_tau2_module("todo", "tau2.domains.mock.environment",
package="todo_domain")``: its ``pack`` declares the part kinds its ``composer`` produces, here a plain write and a
transfer (the mock policy hands a deletion to a human agent).
"""
