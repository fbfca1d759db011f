"""The installation's EU trusted-list snapshot: ``docintake trust`` (``cli``) and how fresh it is
for the dashboard and ``/metrics`` (``status``). The lists themselves are ``verify.trust``'s."""
