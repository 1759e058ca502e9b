module github.com/ingress-egress/ingress-egress/bench

go 1.26.0

replace github.com/ingress-egress/ingress-egress => ../
