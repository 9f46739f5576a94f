// The one translation unit that compiles Asio, Asio SSL and Beast (separate compilation: every
// other file sees BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION and only
// declarations, which keeps the build fast on two cores).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
