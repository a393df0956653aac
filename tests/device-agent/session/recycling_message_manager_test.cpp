#include "device-agent/session/recycling_message_manager.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <websocketpp/message_buffer/message.hpp>

namespace ew::agent::session {
namespace {

using Message = websocketpp::message_buffer::message<RecyclingMessageManager>;
using Manager = RecyclingMessageManager<Message>;
namespace opcode = websocketpp::frame::opcode;

TEST(RecyclingMessageManagerTest, AMessageNobodyHoldsIsLentAgainAsNew) {
  auto manager = std::make_shared<Manager>();
  Message* first = nullptr;
  {
    auto m = manager->get_message(opcode::binary, 100);
    first = m.get();
    m->append_payload(std::string(100, 'x'));
    m->set_header("hdr");
    m->set_prepared(true);
    m->set_fin(false);
    m->set_terminal(true);
    m->set_compressed(true);
  }
  auto again = manager->get_message(opcode::text, 10);
  EXPECT_EQ(again.get(), first);  // the same buffers
  EXPECT_EQ(again->get_opcode(), opcode::text);
  EXPECT_TRUE(again->get_payload().empty());
  EXPECT_GE(again->get_raw_payload().capacity(), 100u);  // kept
  EXPECT_TRUE(again->get_header().empty());
  EXPECT_FALSE(again->get_prepared());
  EXPECT_TRUE(again->get_fin());
  EXPECT_FALSE(again->get_terminal());
  EXPECT_FALSE(again->get_compressed());
}

TEST(RecyclingMessageManagerTest, AMessageStillHeldIsNeverLent) {
  auto manager = std::make_shared<Manager>();
  std::vector<Manager::message_ptr> held;
  for (int i = 0; i < 10; ++i) {  // more than are kept
    held.push_back(manager->get_message(opcode::binary, 8));
    held.back()->append_payload(std::to_string(i));
  }
  for (size_t i = 0; i < held.size(); ++i) {
    for (size_t j = i + 1; j < held.size(); ++j) EXPECT_NE(held[i].get(), held[j].get());
    EXPECT_EQ(held[i]->get_payload(), std::to_string(i));  // nobody wrote over it
  }
  held.resize(Manager::kKept + 2);  // drops some: only ones not kept, nothing to lend
  auto next = manager->get_message();
  for (const auto& h : held) EXPECT_NE(h.get(), next.get());
  held.erase(held.begin());  // a kept one is free now
  auto reused = manager->get_message();
  for (const auto& h : held) EXPECT_NE(h.get(), reused.get());
  EXPECT_NE(next.get(), reused.get());
}

TEST(RecyclingMessageManagerTest, ALargeBufferIsGivenBack) {
  auto manager = std::make_shared<Manager>();
  manager->get_message(opcode::binary, 4 * Manager::kMaxKeptBytes)->append_payload(std::string(1 << 20, 'x'));
  auto again = manager->get_message(opcode::binary, 16);
  EXPECT_TRUE(again->get_payload().empty());
  EXPECT_LE(again->get_raw_payload().capacity(), Manager::kMaxKeptBytes);
}

// Also one in a slot that is not the next lent: every free kept message is looked at.
TEST(RecyclingMessageManagerTest, ALargeBufferInAnyFreeSlotIsGivenBack) {
  auto manager = std::make_shared<Manager>();
  std::vector<Manager::message_ptr> held;
  for (size_t i = 0; i < Manager::kKept; ++i) held.push_back(manager->get_message(opcode::binary, 8));
  Message* last = held.back().get();
  held.back()->append_payload(std::string(1 << 20, 'x'));
  held.clear();  // all free; the first is lent next, the large one is the last
  auto next = manager->get_message(opcode::binary, 8);
  EXPECT_NE(next.get(), last);
  EXPECT_LE(last->get_raw_payload().capacity(), Manager::kMaxKeptBytes);  // kept by the manager: alive
}

TEST(RecyclingMessageManagerTest, MessagesOutliveTheirManager) {
  auto manager = std::make_shared<Manager>();
  auto m = manager->get_message(opcode::text, 4);
  m->append_payload("kept");
  manager.reset();
  EXPECT_EQ(m->get_payload(), "kept");
  EXPECT_FALSE(m->recycle());  // the manager is gone: nothing to give it back to
}

}  // namespace
}  // namespace ew::agent::session
